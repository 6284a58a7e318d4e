import { healthStatuses, poolStatuses } from '../db/schema.js';
import { getPool, listPools, registerPool } from '../domain/pools.js';
import { builder } from './builder.js';
import { requireAdmin } from './context.js';

const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((value) => [value.toUpperCase(), { value }])) as Record<Uppercase<T>, { value: T }>;

const PoolStatus = builder.enumType('PoolStatus', { values: upper(poolStatuses) });
const HealthStatus = builder.enumType('HealthStatus', { values: upper(healthStatuses) });

builder.objectType('Pool', {
  description: 'A PostgreSQL server that hosts many tenant databases. Its admin password is never exposed.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    host: t.exposeString('host'),
    port: t.exposeInt('port'),
    serverType: t.exposeString('server_type'),
    maxInstances: t.exposeInt('max_instances'),
    currentInstances: t.exposeInt('current_instances'),
    freeSlots: t.int({ resolve: (pool) => pool.max_instances - pool.current_instances }),
    status: t.field({ type: PoolStatus, resolve: (pool) => pool.status }),
    healthStatus: t.field({ type: HealthStatus, resolve: (pool) => pool.health_status }),
    healthFailures: t.exposeInt('health_failures'),
    lastHealthCheckAt: t.field({ type: 'DateTime', nullable: true, resolve: (pool) => pool.last_health_check_at }),
    priority: t.exposeInt('priority'),
    createdAt: t.field({ type: 'DateTime', resolve: (pool) => pool.created_at }),
  }),
});

const RegisterPoolInput = builder.inputType('RegisterPoolInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    host: t.string({ required: true }),
    port: t.int({ required: false }),
    adminUser: t.string({ required: true }),
    adminPassword: t.string({ required: true }),
    maxInstances: t.int({ required: true }),
    priority: t.int({ required: false, description: 'Lower is tried first (default 100).' }),
  }),
});

builder.queryFields((t) => ({
  pools: t.field({
    type: ['Pool'],
    resolve: (_root, _args, context) => {
      requireAdmin(context);
      return listPools(context.deps);
    },
  }),
  pool: t.field({
    type: 'Pool',
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, context) => {
      requireAdmin(context);
      return getPool(context.deps, id);
    },
  }),
}));

builder.mutationFields((t) => ({
  registerPool: t.field({
    type: 'Pool',
    description: 'Registers an existing PostgreSQL server as a pool after checking its admin can create tenants.',
    args: { input: t.arg({ type: RegisterPoolInput, required: true }) },
    resolve: (_root, { input }, context) => {
      requireAdmin(context);
      return registerPool(context.deps, {
        ...input,
        port: input.port ?? undefined,
        priority: input.priority ?? undefined,
      });
    },
  }),
}));
