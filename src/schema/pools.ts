import { healthStatuses, poolStatuses } from '../db/schema.js';
import { decommissionPool, poolStats, updatePool, type PoolStats, type PoolStatusStats } from '../domain/pools/pool-lifecycle.js';
import { provisionPool } from '../domain/pools/pool-provisioning.js';
import { getPool, listPools, registerPool } from '../domain/pools/pools.js';
import { builder, upperCaseValues as upper } from './builder.js';
import { adminOnly } from './context.js';

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
    lastHealthError: t.exposeString('last_health_error', { nullable: true }),
    statusReason: t.exposeString('status_reason', { nullable: true, description: 'Why the pool is in error, when it is.' }),
    tenantHost: t.string({ description: 'The address tenants are given.', resolve: (pool) => pool.tenant_host ?? pool.host }),
    tenantPort: t.int({ resolve: (pool) => pool.tenant_port ?? pool.port }),
    serviceName: t.exposeString('service_name', { nullable: true }),
    publishedPort: t.exposeInt('published_port', { nullable: true }),
    cpuLimit: t.exposeFloat('cpu_limit', { nullable: true }),
    memoryLimitMb: t.exposeInt('memory_limit_mb', { nullable: true }),
    provisionReason: t.exposeString('provision_reason', { nullable: true }),
    priority: t.exposeInt('priority'),
    createdAt: t.field({ type: 'DateTime', resolve: (pool) => pool.created_at }),
  }),
});

const PoolStatusStatsType = builder.objectRef<PoolStatusStats>('PoolStatusStats').implement({
  fields: (t) => ({
    status: t.field({ type: PoolStatus, resolve: (row) => row.status }),
    pools: t.exposeInt('pools'),
    slotsUsed: t.exposeInt('slotsUsed'),
    slotsFree: t.exposeInt('slotsFree'),
  }),
});

const PoolStatsType = builder.objectRef<PoolStats>('PoolStats').implement({
  description: 'Pools and slots; free slots count only where allocation may place a database.',
  fields: (t) => ({
    pools: t.exposeInt('pools'),
    slotsUsed: t.exposeInt('slotsUsed'),
    slotsFree: t.exposeInt('slotsFree'),
    byStatus: t.field({ type: [PoolStatusStatsType], resolve: (stats) => stats.byStatus }),
  }),
});

const ProvisionPoolInput = builder.inputType('ProvisionPoolInput', {
  fields: (t) => ({
    maxInstances: t.int({ required: true }),
    name: t.string({ required: false, description: 'Default: postgres-pool-N, the next number.' }),
    cpuLimit: t.float({ required: false }),
    memoryLimit: t.string({ required: false, description: 'Such as 4G (default POOL_GROWTH_MEMORY_MB).' }),
    priority: t.int({ required: false }),
  }),
});

const UpdatePoolInput = builder.inputType('UpdatePoolInput', {
  fields: (t) => ({
    maxInstances: t.int({ required: false, description: 'Never below the instances the pool holds.' }),
    priority: t.int({ required: false }),
    maintenance: t.boolean({ required: false, description: 'true: no new allocations; false: back in service.' }),
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
    authScopes: adminOnly,
    resolve: (_root, _args, context) => listPools(context.deps),
  }),
  poolStats: t.field({
    type: PoolStatsType,
    authScopes: adminOnly,
    resolve: (_root, _args, context) => poolStats(context.deps),
  }),
  pool: t.field({
    type: 'Pool',
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    authScopes: adminOnly,
    resolve: (_root, { id }, context) => {
      return getPool(context.deps, id);
    },
  }),
}));

builder.mutationFields((t) => ({
  registerPool: t.field({
    type: 'Pool',
    description: 'Registers an existing PostgreSQL server as a pool after checking its admin can create tenants.',
    args: { input: t.arg({ type: RegisterPoolInput, required: true }) },
    authScopes: adminOnly,
    resolve: (_root, { input }, context) => {
      return registerPool(context.deps, {
        ...input,
        port: input.port ?? undefined,
        priority: input.priority ?? undefined,
      });
    },
  }),
  provisionPool: t.field({
    type: 'Pool',
    description: 'Runs a new PostgreSQL pool as a Swarm service; it reads PROVISIONING until the daemon has logged in to it.',
    args: { input: t.arg({ type: ProvisionPoolInput, required: true }) },
    authScopes: adminOnly,
    resolve: async (_root, { input }, context) => {
      return (await provisionPool(context.deps, input))!;
    },
  }),
  updatePool: t.field({
    type: 'Pool',
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdatePoolInput, required: true }) },
    authScopes: adminOnly,
    resolve: (_root, { id, input }, context) => {
      return updatePool(context.deps, id, input);
    },
  }),
  decommissionPool: t.field({
    type: 'Pool',
    description: 'Removes an empty pool from service: its Swarm service and secret; the data directory stays unless deleteData.',
    args: { id: t.arg.id({ required: true }), deleteData: t.arg.boolean({ required: false, defaultValue: false }) },
    authScopes: adminOnly,
    resolve: (_root, { id, deleteData }, context) => {
      return decommissionPool(context.deps, id, deleteData ?? false);
    },
  }),
}));
