import type { InstanceRow } from '../db/schema.js';
import type { Deps } from '../deps.js';
import type { Trigger } from '../domain/instances/instance-events.js';
import { restartInstance, startInstance, stopInstance, reactivateInstance, resumeInstance } from '../domain/instances/lifecycle.js';
import { provisionInstance } from '../domain/instances/provisioning.js';
import { terminateInstance } from '../domain/instances/termination.js';
import { DomainError } from '../errors.js';
import { builder } from './builder.js';
import { adminOnly, adminOrCustomer, ownedInstance, triggerOf } from './context.js';

interface InstanceAction {
  description: string;
  /** Who may call it: admins only, or admins and the instance's owner. */
  who: typeof adminOnly | typeof adminOrCustomer;
  run: (deps: Deps, instanceId: string, trigger: Trigger) => Promise<InstanceRow>;
}

/** The mutations that take one instance and answer with it; each records its own name as the trigger's cause. */
const actions: Record<string, InstanceAction> = {
  provisionInstance: {
    description: 'Creates the Odoo service from the allocated database; the scheduler then follows it to RUNNING or FAILED.',
    who: adminOnly,
    run: provisionInstance,
  },
  stopInstance: { description: 'STOPPING, then STOPPED once no task runs.', who: adminOrCustomer, run: stopInstance },
  startInstance: { description: 'STARTING, then RUNNING once its task runs (healthy).', who: adminOrCustomer, run: startInstance },
  restartInstance: { description: 'RESTARTING, then RUNNING once a fresh task runs.', who: adminOrCustomer, run: restartInstance },
  resumeInstance: {
    description: 'Brings an instance billing SUSPENDED back (STARTING, then RUNNING). Not for a cancelled one: reactivate it.',
    who: adminOnly,
    run: resumeInstance,
  },
  reactivateInstance: {
    description: "Cancels a cancelled subscription's purge (purgeAt) and brings the instance back to RUNNING.",
    who: adminOnly,
    run: reactivateInstance,
  },
};

builder.mutationFields((t) => ({
  terminateInstance: t.field({
    type: 'Instance',
    description:
      'Stops the instance at once (TERMINATING), takes a FINAL backup, then removes the service and secret, drops the database ' +
      'and roles, and frees the pool slot and the subdomain (TERMINATED). While the FINAL backup cannot complete, `error` says why. ' +
      '`force` (admins only): no FINAL backup, recorded in its events.',
    authScopes: adminOrCustomer,
    args: { instanceId: t.arg.id({ required: true }), force: t.arg.boolean({ required: false }) },
    resolve: async (_root, { instanceId, force }, context) => {
      if (force && context.caller.kind !== 'admin')
        throw new DomainError('FORBIDDEN', 'Only an admin may terminate an instance without a final backup (force).');
      const instance = await ownedInstance(context, instanceId);
      return terminateInstance(context.deps, instance.id, triggerOf(context, 'terminateInstance'), { force: force === true });
    },
  }),
}));

builder.mutationFields((t) =>
  Object.fromEntries(
    Object.entries(actions).map(([name, action]) => [
      name,
      t.field({
        type: 'Instance',
        description: action.description,
        authScopes: action.who,
        args: { instanceId: t.arg.id({ required: true }) },
        resolve: async (_root, { instanceId }, context) =>
          action.run(context.deps, (await ownedInstance(context, instanceId)).id, triggerOf(context, name)),
      }),
    ]),
  ),
);
