import type { Deps } from '../deps.js';
import { provisionInstance } from '../domain/provisioning.js';
import type { Trigger } from '../domain/instance-events.js';
import { terminateInstance } from '../domain/termination.js';
import { forEachInstance, linkedInstances } from './instances.js';
import type { Intent } from './intent.js';
import type { KillbillClient } from './killbill-client.js';

/** How an event ended when nothing failed: acted on, or deliberately left alone (with the reason). */
export interface Settled {
  status: 'processed' | 'ignored';
  outcome: string;
}

/** Thrown when an event must be tried again later; its message becomes `last_error`. */
export class RetryLater extends Error {
  override readonly name = 'RetryLater';
}

const processed = (outcome: string): Settled => ({ status: 'processed', outcome });
/** Instance history names Kill Bill as the actor, and the notification as the cause. */
export const byKillbill = (cause: string): Trigger => ({ cause, actor: 'killbill' });
const ignored = (outcome: string): Settled => ({ status: 'ignored', outcome });

export type IntentHandler<K extends Intent['kind']> = (deps: Deps, client: KillbillClient, intent: Extract<Intent, { kind: K }>) => Promise<Settled>;

/** SUBSCRIPTION_CREATION (EFFECTIVE): a trial starts the service. */
export const startTrial: IntentHandler<'trial'> = async (deps, client, { subscriptionId }) => {
  const subscription = await client.getSubscription(subscriptionId);
  if (subscription.phaseType !== 'TRIAL') return ignored(`subscription ${subscriptionId} is in phase ${subscription.phaseType ?? 'unknown'}, not TRIAL`);
  if (subscription.state !== 'ACTIVE') return ignored(`subscription ${subscriptionId} is ${subscription.state ?? 'in no state'}, not ACTIVE`);
  return provisionFor(deps, [subscriptionId], byKillbill('SUBSCRIPTION_CREATION'));
};

/** INVOICE_PAYMENT_SUCCESS: a paid invoice starts the service of every subscription it bills. */
export const startPaid: IntentHandler<'payment'> = async (deps, client, { invoiceId }) => {
  const invoice = await client.getInvoice(invoiceId);
  if (invoice.balance > 0) return ignored(`invoice ${invoiceId} still has ${invoice.balance} ${invoice.currency ?? ''} to pay`.trimEnd());
  const subscriptionIds = [...new Set((invoice.items ?? []).flatMap((item) => (item.subscriptionId ? [item.subscriptionId] : [])))];
  if (subscriptionIds.length === 0) return ignored(`invoice ${invoiceId} bills no subscription`);
  return provisionFor(deps, subscriptionIds, byKillbill('INVOICE_PAYMENT_SUCCESS'));
};

/** SUBSCRIPTION_CANCEL (EFFECTIVE): a cancelled subscription ends its instances (their filestore is kept). */
export const endCancelled: IntentHandler<'cancellation'> = async (deps, client, { subscriptionId }) => {
  const subscription = await client.getSubscription(subscriptionId);
  // Terminating drops the tenant's database: only on Kill Bill's word that the entitlement has ended.
  if (subscription.state !== 'CANCELLED' && subscription.state !== 'EXPIRED') {
    return ignored(`subscription ${subscriptionId} is ${subscription.state ?? 'in no state'} in Kill Bill, not CANCELLED`);
  }
  const instances = await linkedInstances(deps, [subscriptionId]);
  if (instances.length === 0) return processed(`no live instance is linked to subscription ${subscriptionId}`);
  const { done, failed } = await forEachInstance(instances, (id) => terminateInstance(deps, id, byKillbill('SUBSCRIPTION_CANCEL')));
  if (failed.length > 0) throw new RetryLater(failed.join('; '));
  return processed(`terminated ${done.join(', ')}`);
};

/**
 * Provisions through the same function as the GraphQL mutation, which locks the instance and is idempotent:
 * instances already on their way are left as they are, and one not yet allocated fails the event until it is.
 */
async function provisionFor(deps: Deps, subscriptionIds: string[], trigger: Trigger): Promise<Settled> {
  const instances = await linkedInstances(deps, subscriptionIds);
  // Kill Bill may speak before the instance is created with its subscription id: wait for it rather than lose it.
  if (instances.length === 0) throw new RetryLater(`no instance is linked to subscription ${subscriptionIds.join(', ')} yet`);
  const { done, failed } = await forEachInstance(instances, (id) => provisionInstance(deps, id, trigger));
  if (failed.length > 0) throw new RetryLater([...failed, ...done.map((line) => `instance ${line}`)].join('; '));
  return processed(`provisioned ${done.join(', ')}`);
}
