import { rolloutStatuses, rolloutTenantStatuses, type RolloutEventRow, type RolloutRow, type RolloutTenantRow } from '../db/schema.js';
import { recordedSpec } from '../domain/instances/odoo-spec.js';
import { getRollout, MAX_ROLLOUT_BATCH, pinInstanceImage, rolloutOdooVersion } from '../domain/modules/rollouts.js';
import { builder, upperCaseValues as upper } from './builder.js';
import { adminOnly, triggerOf } from './context.js';

const RolloutStatus = builder.enumType('RolloutStatus', { values: upper(rolloutStatuses) });
const RolloutTenantStatus = builder.enumType('RolloutTenantStatus', { values: upper(rolloutTenantStatuses) });

type RolloutEventView = Omit<RolloutEventRow, 'created_at'> & { created_at: Date | string };

const RolloutEvent = builder.objectRef<RolloutEventView>('RolloutEvent').implement({
  description: 'What a rollout did, as it happened.',
  fields: (t) => ({
    id: t.exposeID('id'),
    rolloutId: t.exposeID('rollout_id'),
    instanceId: t.exposeID('instance_id', { nullable: true }),
    message: t.exposeString('message'),
    createdAt: t.field({ type: 'DateTime', resolve: (event) => new Date(event.created_at) }),
  }),
});

const RolloutTenant = builder.objectRef<RolloutTenantRow>('RolloutTenant').implement({
  description: 'One tenant of a rollout and what became of it; its module change (kind `rollout`) has the steps.',
  fields: (t) => ({
    instanceId: t.exposeID('instance_id'),
    position: t.exposeInt('position', { description: 'Its place in the order the rollout takes tenants, a batch at a time.' }),
    status: t.field({ type: RolloutTenantStatus, resolve: (tenant) => tenant.status }),
    error: t.exposeString('error', { nullable: true, description: 'Why it failed (and was rolled back) or was passed by.' }),
    moduleChangeId: t.exposeID('module_change_id', { nullable: true }),
    updatedAt: t.field({ type: 'DateTime', resolve: (tenant) => tenant.updated_at }),
  }),
});

const Rollout = builder.objectRef<RolloutRow>('Rollout').implement({
  description:
    'A new build of an Odoo version rolled out to its tenants, a batch at a time: each stopped, a FINAL backup, `odoo -u all` on the new image, started and its login page checked; the first failure is rolled back and stops the rollout.',
  fields: (t) => ({
    id: t.exposeID('id'),
    version: t.exposeString('odoo_version'),
    image: t.exposeString('image'),
    batch: t.exposeInt('batch_size'),
    status: t.field({ type: RolloutStatus, resolve: (rollout) => rollout.status }),
    error: t.exposeString('error', { nullable: true }),
    actor: t.exposeString('actor'),
    createdAt: t.field({ type: 'DateTime', resolve: (rollout) => rollout.created_at }),
    finishedAt: t.field({ type: 'DateTime', nullable: true, resolve: (rollout) => rollout.finished_at }),
    tenants: t.field({
      type: [RolloutTenant],
      description: 'Its tenants, in the order it takes them.',
      resolve: (rollout, _args, context) =>
        context.deps.db.selectFrom('rollout_tenants').selectAll().where('rollout_id', '=', rollout.id).orderBy('position').execute(),
    }),
    events: t.field({
      type: [RolloutEvent],
      description: 'What it did, oldest first.',
      resolve: (rollout, _args, context) =>
        context.deps.db.selectFrom('rollout_events').selectAll().where('rollout_id', '=', rollout.id).orderBy('id').execute(),
    }),
  }),
});

builder.queryFields((t) => ({
  rollouts: t.field({
    type: [Rollout],
    description: 'Rollouts, newest first (the last 20).',
    authScopes: adminOnly,
    resolve: (_root, _args, context) =>
      context.deps.db.selectFrom('rollouts').selectAll().orderBy('created_at', 'desc').limit(20).execute(),
  }),
  rollout: t.field({
    type: Rollout,
    authScopes: adminOnly,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, context) => getRollout(context.deps, id),
  }),
}));

builder.mutationFields((t) => ({
  rolloutOdooVersion: t.field({
    type: Rollout,
    description:
      "Rolls the version's image out to its tenants on another one (pinned ones are passed by), `batch` at a time. `image` must be " +
      'the one ODOO_IMAGES gives the version now. Asking again while it runs returns it.',
    authScopes: adminOnly,
    args: {
      version: t.arg.string({ required: true }),
      image: t.arg.string({ required: true }),
      batch: t.arg.int({ required: false, defaultValue: 1, description: `Tenants updated at once, 1 to ${MAX_ROLLOUT_BATCH}.` }),
    },
    resolve: (_root, { version, image, batch }, context) =>
      rolloutOdooVersion(context.deps, { version, image, batch: batch ?? 1 }, triggerOf(context, 'rolloutOdooVersion')),
  }),
  pinInstanceImage: t.field({
    type: 'Instance',
    description: 'Pins the instance to the image it runs (rollouts pass it by), or lets it follow them again.',
    authScopes: adminOnly,
    args: { instanceId: t.arg.id({ required: true }), pinned: t.arg.boolean({ required: true }) },
    resolve: (_root, { instanceId, pinned }, context) =>
      pinInstanceImage(context.deps, instanceId, pinned, triggerOf(context, 'pinInstanceImage')),
  }),
}));

builder.subscriptionFields((t) => ({
  rolloutEvents: t.field({
    type: RolloutEvent,
    description: "The rollout's events as they happen (GraphQL over SSE), from every daemon replica.",
    authScopes: adminOnly,
    args: { rolloutId: t.arg.id({ required: true }) },
    subscribe: async (_root, { rolloutId }, context) =>
      context.deps.events.subscribeRollout((await getRollout(context.deps, rolloutId)).id),
    resolve: (event) => event,
  }),
}));

builder.objectFields('Instance', (t) => ({
  image: t.string({
    nullable: true,
    description: 'The Odoo image it runs (its recorded spec); null before it is provisioned.',
    resolve: (instance) => recordedSpec(instance)?.image ?? null,
  }),
  pinnedImage: t.exposeString('pinned_image', { nullable: true, description: 'The image rollouts leave it on; null: it follows them.' }),
}));
