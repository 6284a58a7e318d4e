import type { InstanceStatus } from '../db/schema.js';
import type { Deps } from '../deps.js';
import type { Trigger } from '../domain/instances/instance-events.js';
import { reactivateInstance, resumeInstance, suspendInstance } from '../domain/instances/lifecycle.js';
import { changeInstancePlan } from '../domain/instances/plan-change.js';
import { resolvePlan } from '../domain/instances/plans.js';
import { provisionInstance } from '../domain/instances/provisioning.js';
import { allows } from '../domain/instances/instance-policy.js';
import { forEachInstance, linkedInstances, type LinkedInstance } from './instances.js';
import type { Intent } from './intent.js';
import type { KillbillClient } from '../killbill/client.js';
import { accountCustomer } from '../domain/subscriptions.js';

/** How an event ended when nothing failed: acted on, or deliberately left alone (with the reason). */
export interface Settled {
  status: 'processed' | 'ignored';
  outcome: string;
}

/** Thrown when an event must be tried again later; its message becomes `last_error`. */
export class RetryLater extends Error {
  override readonly name = 'RetryLater';
}

/** What a handler knows of the event beyond its intent. */
export interface EventContext {
  receivedAt: Date;
}

export const processed = (outcome: string): Settled => ({ status: 'processed', outcome });
export const ignored = (outcome: string): Settled => ({ status: 'ignored', outcome });
/** Instance history names Kill Bill as the actor, and the notification as the cause. */
export const byKillbill = (cause: string): Trigger => ({ cause, actor: 'killbill' });

export type IntentHandler<K extends Intent['kind']> = (
  deps: Deps,
  client: KillbillClient,
  intent: Extract<Intent, { kind: K }>,
  context: EventContext,
) => Promise<Settled>;

const cancelledStates = ['CANCELLED', 'EXPIRED'];

/**
 * No instance is linked to the subscription yet. The frontend may still create it, so the event waits for that,
 * but only BILLING_WAIT_FOR_INSTANCE_SECONDS from its arrival: then it is ignored, with the reason.
 */
function waitForInstance(deps: Deps, context: EventContext, what: string): Settled {
  const boundSeconds = deps.config.billing.waitForInstanceSeconds;
  const until = new Date(context.receivedAt.getTime() + boundSeconds * 1000);
  if (Date.now() >= until.getTime())
    return ignored(`no live instance of the account's customer was linked to ${what} within ${boundSeconds} s`);
  throw new RetryLater(`no instance of the account's customer is linked to ${what} yet; waiting for one until ${until.toISOString()}`);
}

/** Applies `action` to each instance, and turns any failure into a retry of the whole event (each action is idempotent). */
async function settleAll(
  instances: LinkedInstance[],
  verb: string,
  action: (id: string) => Promise<{ status: InstanceStatus }>,
  left: string[] = [],
): Promise<Settled> {
  const { done, failed } = await forEachInstance(instances, action);
  if (failed.length > 0) throw new RetryLater([...failed, ...done.map((line) => `instance ${line}`)].join('; '));
  const parts = [
    done.length > 0 ? `${verb} ${done.join(', ')}` : 'nothing to do',
    ...(left.length > 0 ? [`left as they are: ${left.join(', ')}`] : []),
  ];
  return processed(parts.join('; '));
}

const statusesOf = (instances: LinkedInstance[]) => instances.map((instance) => `${instance.id} ${instance.status}`);

/** SUBSCRIPTION_CREATION (EFFECTIVE): a trial starts the service. */
export const startTrial: IntentHandler<'trial'> = async (deps, client, { subscriptionId }, context) => {
  const subscription = await client.getSubscription(subscriptionId);
  if (subscription.phaseType !== 'TRIAL')
    return ignored(`subscription ${subscriptionId} is in phase ${subscription.phaseType ?? 'unknown'}, not TRIAL`);
  if (subscription.state !== 'ACTIVE')
    return ignored(`subscription ${subscriptionId} is ${subscription.state ?? 'in no state'}, not ACTIVE`);
  const instances = await linkedInstances(deps, [subscriptionId], await accountCustomer(client, subscription.accountId));
  if (instances.length === 0) return waitForInstance(deps, context, `subscription ${subscriptionId}`);
  const trigger = byKillbill('SUBSCRIPTION_CREATION');
  const toProvision = instances.filter((instance) => allows('provisionedByBilling', instance.status));
  return settleAll(
    toProvision,
    'provisioned',
    (id) => provisionInstance(deps, id, trigger),
    statusesOf(instances.filter((i) => !toProvision.includes(i))),
  );
};

/**
 * INVOICE_PAYMENT_SUCCESS: with nothing left to pay on the invoice, the instances of the subscriptions it bills are
 * provisioned, or resumed if billing suspended them; a subscription Kill Bill still shows BLOCKED (the account owes
 * more) or cancelled is left alone.
 */
export const startPaid: IntentHandler<'payment'> = async (deps, client, { invoiceId }, context) => {
  const invoice = await client.getInvoice(invoiceId);
  if (invoice.balance > 0) return ignored(`invoice ${invoiceId} still has ${invoice.balance} ${invoice.currency ?? ''} to pay`.trimEnd());
  const subscriptionIds = [
    ...new Set((invoice.items ?? []).flatMap((item) => (item.subscriptionId ? [item.subscriptionId.toLowerCase()] : []))),
  ];
  if (subscriptionIds.length === 0) return ignored(`invoice ${invoiceId} bills no subscription`);
  const instances = await linkedInstances(deps, subscriptionIds, await accountCustomer(client, invoice.accountId));
  const states = new Map<string, string>();
  const readStates = async (ids: Iterable<string>) => {
    for (const id of ids) states.set(id, (await client.getSubscription(id)).state ?? 'UNKNOWN');
  };
  if (instances.length === 0) {
    // Nothing to wait for when every billed subscription has ended: no instance will be created for it.
    await readStates(subscriptionIds);
    if ([...states.values()].every((state) => cancelledStates.includes(state))) {
      return ignored(
        `no live instance is linked to subscription ${subscriptionIds.join(', ')}, and Kill Bill shows ${[...states.values()].join(', ')}`,
      );
    }
    return waitForInstance(deps, context, `subscription ${subscriptionIds.join(', ')}`);
  }
  await readStates(new Set(instances.map((instance) => instance.subscription_id!)));
  const entitled = instances.filter((instance) => states.get(instance.subscription_id!) === 'ACTIVE');
  const left = instances
    .filter((instance) => !entitled.includes(instance))
    .map((i) => `${i.id} (subscription ${states.get(i.subscription_id!)} in Kill Bill)`);
  const trigger = byKillbill('INVOICE_PAYMENT_SUCCESS');
  const act = entitled.filter(
    (instance) => allows('provisionedByBilling', instance.status) || (instance.status === 'SUSPENDED' && !instance.purge_at),
  );
  left.push(...statusesOf(entitled.filter((instance) => !act.includes(instance))));
  return settleAll(
    act,
    'provisioned or resumed',
    (id) => {
      const instance = act.find((candidate) => candidate.id === id)!;
      return instance.status === 'SUSPENDED' ? resumeInstance(deps, id, trigger) : provisionInstance(deps, id, trigger);
    },
    left,
  );
};

/**
 * SUBSCRIPTION_CANCEL (EFFECTIVE): on Kill Bill's word that the entitlement ended, the instance is suspended, and
 * purged (terminated) after TERMINATION_GRACE_SECONDS unless the subscription is reactivated first.
 */
export const endCancelled: IntentHandler<'cancellation'> = async (deps, client, { subscriptionId }) => {
  const subscription = await client.getSubscription(subscriptionId);
  if (!cancelledStates.includes(subscription.state ?? '')) {
    return ignored(`subscription ${subscriptionId} is ${subscription.state ?? 'in no state'} in Kill Bill, not CANCELLED`);
  }
  const instances = await linkedInstances(deps, [subscriptionId], await accountCustomer(client, subscription.accountId));
  if (instances.length === 0) return ignored(`no live instance of the account's customer is linked to subscription ${subscriptionId}`);
  const purgeAt = new Date(Date.now() + deps.config.plans.terminationGraceSeconds * 1000);
  return settleAll(instances, `suspended until ${purgeAt.toISOString()}`, (id) =>
    suspendInstance(deps, id, byKillbill('SUBSCRIPTION_CANCEL'), purgeAt),
  );
};

/** SUBSCRIPTION_UNCANCEL: Kill Bill shows the subscription active again: its instance is reactivated (purge cancelled). */
export const undoCancellation: IntentHandler<'uncancellation'> = async (deps, client, { subscriptionId }) => {
  const subscription = await client.getSubscription(subscriptionId);
  if (subscription.state !== 'ACTIVE')
    return ignored(`subscription ${subscriptionId} is ${subscription.state ?? 'in no state'} in Kill Bill, not ACTIVE`);
  const instances = await linkedInstances(deps, [subscriptionId], await accountCustomer(client, subscription.accountId));
  const cancelled = instances.filter((instance) => instance.purge_at);
  if (cancelled.length === 0) return ignored(`no instance of subscription ${subscriptionId} waits for its purge`);
  return settleAll(cancelled, 'reactivated', (id) => reactivateInstance(deps, id, byKillbill('SUBSCRIPTION_UNCANCEL')));
};

/** SUBSCRIPTION_CHANGE (EFFECTIVE): the instance moves to the plan Kill Bill now shows, resized live. */
export const changePlan: IntentHandler<'planChange'> = async (deps, client, { subscriptionId }) => {
  const subscription = await client.getSubscription(subscriptionId);
  if (cancelledStates.includes(subscription.state ?? ''))
    return ignored(`subscription ${subscriptionId} is ${subscription.state} in Kill Bill`);
  const instances = await linkedInstances(deps, [subscriptionId], await accountCustomer(client, subscription.accountId));
  if (instances.length === 0) return ignored(`no live instance of the account's customer is linked to subscription ${subscriptionId}`);
  const plan = await resolvePlan(deps, subscription.planName);
  return settleAll(instances, `moved to plan ${plan.name}`, (id) => changeInstancePlan(deps, id, plan, byKillbill('SUBSCRIPTION_CHANGE')));
};
