import { createStaging, renewStaging } from '../domain/instances/staging.js';
import { builder } from './builder.js';
import { adminOrCustomer, ownedInstance, triggerOf } from './context.js';

builder.objectField('Instance', 'stagingOf', (t) =>
  t.exposeID('staging_of', { nullable: true, description: 'The instance this one is a staging copy of.' }),
);
builder.objectField('Instance', 'stagingExpiresAt', (t) =>
  t.field({
    type: 'DateTime',
    nullable: true,
    description: 'When a staging copy is terminated unless renewed (renewStaging).',
    resolve: (instance) => instance.staging_expires_at,
  }),
);

builder.mutationFields((t) => ({
  createStaging: t.field({
    type: 'Instance',
    description:
      'A staging copy of the instance: a new instance of its owner (counted in their limits) loaded from a fresh backup, with its ' +
      'own uuid, secret and base URL, neutralised by `odoo neutralize` and checked (database.is_neutralized, mail servers and ' +
      'scheduled actions off) before its first start: a copy that fails the check is FAILED, never started. It is terminated ' +
      'after STAGING_TTL_DAYS unless renewed. Waits for the backup.',
    authScopes: adminOrCustomer,
    args: { instanceId: t.arg.id({ required: true }), name: t.arg.string({ required: true }), subdomain: t.arg.string({ required: true }) },
    resolve: async (_root, { instanceId, name, subdomain }, context) =>
      createStaging(context.deps, (await ownedInstance(context, instanceId)).id, { name, subdomain }, triggerOf(context, 'createStaging')),
  }),
  renewStaging: t.field({
    type: 'Instance',
    description: 'Another STAGING_TTL_DAYS for a staging copy, from now.',
    authScopes: adminOrCustomer,
    args: { instanceId: t.arg.id({ required: true }) },
    resolve: async (_root, { instanceId }, context) =>
      renewStaging(context.deps, (await ownedInstance(context, instanceId)).id, triggerOf(context, 'renewStaging')),
  }),
}));
