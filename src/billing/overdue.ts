import type { InstanceStatus } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { stopInstance } from '../domain/lifecycle.js';
import { RetryLater, byKillbill, type IntentHandler } from './actions.js';
import { forEachInstance, linkedInstances } from './instances.js';

/** On their way to running: stopping them now is refused, so the event waits until they get there. */
const settling: InstanceStatus[] = ['PROVISIONING', 'STARTING', 'RESTARTING'];

/**
 * OVERDUE_CHANGE / BLOCKING_STATE on an account: Kill Bill's overdue service blocks entitlement, and a subscription
 * whose entitlement is blocked reads BLOCKED. The account's subscriptions are read from Kill Bill, whatever the event
 * carried, and the running instances of the blocked ones are stopped (not terminated: paying unblocks the account).
 */
export const stopBlocked: IntentHandler<'blocking'> = async (deps: Deps, client, { accountId }) => {
  const bundles = await client.getAccountBundles(accountId);
  const blocked = bundles.flatMap((bundle) => bundle.subscriptions ?? []).filter((subscription) => subscription.state === 'BLOCKED');
  if (blocked.length === 0) return { status: 'ignored', outcome: `no subscription of account ${accountId} is BLOCKED in Kill Bill` };

  const instances = await linkedInstances(deps, blocked.map((subscription) => subscription.subscriptionId));
  const running = instances.filter((instance) => instance.status === 'RUNNING');
  const pending = instances.filter((instance) => settling.includes(instance.status));
  const { done, failed } = await forEachInstance(running, (id) => stopInstance(deps, id, byKillbill('OVERDUE')));
  const waits = pending.map((instance) => `instance ${instance.id} is ${instance.status}: stopped once it runs`);
  if (failed.length > 0 || waits.length > 0) throw new RetryLater([...failed, ...waits].join('; '));
  const untouched = instances.filter((instance) => instance.status !== 'RUNNING').map((instance) => `${instance.id} ${instance.status}`);
  return {
    status: 'processed',
    outcome: [done.length > 0 ? `stopped ${done.join(', ')}` : 'no running instance to stop', ...(untouched.length ? [`left as they are: ${untouched.join(', ')}`] : [])].join('; '),
  };
};
