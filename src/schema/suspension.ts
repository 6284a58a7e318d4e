import { reactivateInstance, resumeInstance } from '../domain/lifecycle.js';
import { builder } from './builder.js';
import { adminOnly, triggerOf } from './context.js';

builder.mutationFields((t) => ({
  resumeInstance: t.field({
    type: 'Instance',
    description: 'Brings an instance billing SUSPENDED back (STARTING, then RUNNING). Not for a cancelled one: reactivate it.',
    authScopes: adminOnly,
    args: { instanceId: t.arg.id({ required: true }) },
    resolve: (_root, { instanceId }, context) => resumeInstance(context.deps, instanceId, triggerOf(context, 'resumeInstance')),
  }),
  reactivateInstance: t.field({
    type: 'Instance',
    description: "Cancels a cancelled subscription's purge (purgeAt) and brings the instance back to RUNNING.",
    authScopes: adminOnly,
    args: { instanceId: t.arg.id({ required: true }) },
    resolve: (_root, { instanceId }, context) => reactivateInstance(context.deps, instanceId, triggerOf(context, 'reactivateInstance')),
  }),
}));
