import type { PlanRow } from '../db/schema.js';
import { listPlans, upsertPlan } from '../domain/instances/plans.js';
import { formatBytes } from '../domain/sizes.js';
import { builder } from './builder.js';
import { adminOnly, adminOrCustomer } from './context.js';

const Plan = builder.objectRef<PlanRow>('Plan').implement({
  description: 'A catalog entry: what an instance sold under a Kill Bill plan of this name gets. DEFAULT_PLAN covers the rest.',
  fields: (t) => ({
    name: t.exposeString('name'),
    cpuLimit: t.exposeFloat('cpu_limit'),
    memoryLimitMb: t.exposeInt('memory_limit_mb'),
    storageLimit: t.string({
      nullable: true,
      description: 'What an instance on it may store (filestore and database), such as 10G; null: no limit.',
      resolve: (plan) => (plan.storage_limit_bytes === null ? null : formatBytes(Number(plan.storage_limit_bytes))),
    }),
    storageLimitBytes: t.float({
      nullable: true,
      resolve: (plan) => (plan.storage_limit_bytes === null ? null : Number(plan.storage_limit_bytes)),
    }),
    description: t.exposeString('description', { nullable: true }),
  }),
});

const PlanInput = builder.inputType('PlanInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: "The Kill Bill plan name (a subscription's planName)." }),
    cpuLimit: t.float({ required: true, description: 'CPU cores.' }),
    memoryLimit: t.string({ required: true, description: 'Memory such as 512M or 2G.' }),
    storageLimit: t.string({
      required: false,
      description:
        "What an instance may store, filestore and database together, such as 500M, 10G or 2T: its data dir's CephFS quota " +
        '(a write past it fails), and the database checked against the rest. None: no limit.',
    }),
    description: t.string({ required: false }),
  }),
});

builder.objectFields('Instance', (t) => ({
  plan: t.exposeString('plan', {
    nullable: true,
    description: 'The plan its limits came from (cpuLimit and memoryLimitMb show what applies).',
  }),
  purgeAt: t.field({
    type: 'DateTime',
    nullable: true,
    description: 'Set while a cancelled subscription waits out its grace period: the instance is terminated then, unless reactivated.',
    resolve: (instance) => instance.purge_at,
  }),
}));

builder.queryFields((t) => ({
  plans: t.field({
    type: [Plan],
    description: 'The catalog, by name, with the built-in default plan unless one of its name is defined.',
    authScopes: adminOrCustomer,
    resolve: (_root, _args, context) => listPlans(context.deps),
  }),
}));

builder.mutationFields((t) => ({
  upsertPlan: t.field({
    type: Plan,
    description: 'Creates or replaces a plan; instances get its limits when they are created or move to it.',
    authScopes: adminOnly,
    args: { input: t.arg({ type: PlanInput, required: true }) },
    resolve: (_root, { input }, context) => upsertPlan(context.deps, input),
  }),
}));
