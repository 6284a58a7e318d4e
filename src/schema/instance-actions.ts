import type { InstanceRow } from '../db/schema.js';
import type { Deps } from '../deps.js';
import type { Trigger } from '../domain/instance-events.js';
import { restartInstance, startInstance, stopInstance, reactivateInstance, resumeInstance } from '../domain/lifecycle.js';
import { provisionInstance } from '../domain/provisioning.js';
import { terminateInstance } from '../domain/termination.js';
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
  terminateInstance: {
    description: 'Removes the service and secret, drops the database and role, and frees the pool slot and the subdomain.',
    who: adminOrCustomer,
    run: terminateInstance,
  },
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
