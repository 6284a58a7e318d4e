import type { Deps } from '../deps.js';
import { DomainError } from '../errors.js';
import { createKillbillClient, KillbillError, type KillbillClient, type KillbillSubscription } from '../killbill/client.js';

export const sameId = (a: string | null | undefined, b: string | null | undefined): boolean =>
  !!a && !!b && a.toLowerCase() === b.toLowerCase();

/** The customer a Kill Bill account belongs to: the frontend creates it with the customer id as its `externalKey`. */
export async function accountCustomer(client: KillbillClient, accountId: string): Promise<string | null> {
  return (await client.getAccount(accountId)).externalKey?.toLowerCase() ?? null;
}

/**
 * At createInstance: the subscription exists in Kill Bill and its account is the customer's. Returns it (its planName
 * decides the instance's plan). A refusal names the field; Kill Bill out of reach is BILLING_UNAVAILABLE.
 */
export async function subscriptionOfCustomer(
  deps: Pick<Deps, 'config'>,
  subscriptionId: string,
  customerId: string,
): Promise<KillbillSubscription> {
  const client = createKillbillClient(deps.config.billing.killbill);
  try {
    const subscription = await client.getSubscription(subscriptionId);
    if (!sameId(await accountCustomer(client, subscription.accountId), customerId)) {
      throw new DomainError(
        'FORBIDDEN',
        `Subscription ${subscriptionId} belongs to another customer's Kill Bill account.`,
        'input.subscriptionId',
      );
    }
    return subscription;
  } catch (error) {
    if (!(error instanceof KillbillError)) throw error;
    if (error.code === 'KILLBILL_NOT_FOUND') {
      throw new DomainError(
        'VALIDATION_FAILED',
        `input.subscriptionId: Kill Bill has no subscription ${subscriptionId}`,
        'input.subscriptionId',
      );
    }
    throw new DomainError(
      'BILLING_UNAVAILABLE',
      `The subscription cannot be checked with Kill Bill now: ${error.message}`,
      'input.subscriptionId',
    );
  }
}
