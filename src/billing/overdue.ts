import { resumeInstance, suspendInstance } from '../domain/instances/lifecycle.js';
import { byKillbill, ignored, processed, RetryLater, type IntentHandler } from './actions.js';
import { forEachInstance, linkedInstances } from './instances.js';
import { accountCustomer } from '../domain/subscriptions.js';

/**
 * OVERDUE_CHANGE / BLOCKING_STATE on an account: Kill Bill's overdue service blocks or unblocks entitlement, and a
 * subscription whose entitlement is blocked reads BLOCKED. The account's subscriptions are read from Kill Bill,
 * whatever the event carried: the instances of BLOCKED ones are suspended (scaled to 0, nothing deleted), and the
 * suspended instances of ACTIVE ones resumed. A cancelled subscription's instance waits for its purge or reactivation.
 */
export const applyEntitlement: IntentHandler<'entitlement'> = async (deps, client, { accountId }) => {
  const subscriptions = (await client.getAccountBundles(accountId)).flatMap((bundle) => bundle.subscriptions ?? []);
  const stateOf = new Map(
    subscriptions.map((subscription) => [subscription.subscriptionId.toLowerCase(), subscription.state ?? 'UNKNOWN']),
  );
  const instances = await linkedInstances(deps, [...stateOf.keys()], await accountCustomer(client, accountId));
  if (instances.length === 0)
    return ignored(`no live instance of the account's customer is linked to a subscription of account ${accountId}`);

  const cause = byKillbill('ENTITLEMENT');
  const toSuspend = instances.filter((instance) => stateOf.get(instance.subscription_id!) === 'BLOCKED' && instance.status !== 'SUSPENDED');
  const toResume = instances.filter(
    (instance) => stateOf.get(instance.subscription_id!) === 'ACTIVE' && instance.status === 'SUSPENDED' && !instance.purge_at,
  );
  const suspended = await forEachInstance(toSuspend, (id) => suspendInstance(deps, id, cause));
  const resumed = await forEachInstance(toResume, (id) => resumeInstance(deps, id, cause));
  const failed = [...suspended.failed, ...resumed.failed];
  if (failed.length > 0) throw new RetryLater(failed.join('; '));
  const parts = [
    ...(suspended.done.length > 0 ? [`suspended ${suspended.done.join(', ')}`] : []),
    ...(resumed.done.length > 0 ? [`resumed ${resumed.done.join(', ')}`] : []),
  ];
  return processed(parts.length > 0 ? parts.join('; ') : `nothing to change: ${instances.map((i) => `${i.id} ${i.status}`).join(', ')}`);
};
