import { randomBytes, randomUUID } from 'node:crypto';
import type { SubscriptionJson } from './killbill-fake.js';

/** The webhook token test daemons are given (KILLBILL_WEBHOOK_TOKEN). */
export const webhookToken = randomBytes(24).toString('base64url');

export interface Notification {
  eventType: string;
  objectType: string;
  objectId: string | null;
  accountId: string | null;
  metaData: string | null;
}

/** A subscription event as Kill Bill sends it; `extra` metadata makes an otherwise identical body distinct. */
export const subscriptionEvent = (
  eventType: string,
  subscription: Pick<SubscriptionJson, 'subscriptionId' | 'accountId' | 'bundleExternalKey'>,
  actionType = 'EFFECTIVE',
  extra: Record<string, unknown> = {},
): Notification => ({
  eventType,
  objectType: 'SUBSCRIPTION',
  objectId: subscription.subscriptionId,
  accountId: subscription.accountId,
  metaData: JSON.stringify({ actionType, bundleExternalKey: subscription.bundleExternalKey, ...extra }),
});

export const invoicePaid = (invoiceId: string, accountId: string): Notification => ({
  eventType: 'INVOICE_PAYMENT_SUCCESS',
  objectType: 'INVOICE',
  objectId: invoiceId,
  accountId,
  metaData: JSON.stringify({
    invoicePaymentId: randomUUID(),
    invoiceId,
    paymentId: randomUUID(),
    invoicePaymentType: 'ATTEMPT',
    linkedInvoicePaymentId: null,
    paymentCookieId: null,
  }),
});

/** Kill Bill's OVERDUE_CHANGE: it says only that the account's overdue state moved, not which way. */
export const overdueChange = (accountId: string): Notification => ({
  eventType: 'OVERDUE_CHANGE',
  objectType: 'ACCOUNT',
  objectId: accountId,
  accountId,
  metaData: null,
});

/** Kill Bill's BLOCKING_STATE for an account's overdue state: `blocked` true blocks entitlement, false unblocks it, null warns only. */
export const blockingState = (accountId: string, blocked: boolean | null): Notification => ({
  eventType: 'BLOCKING_STATE',
  objectType: 'ACCOUNT',
  objectId: accountId,
  accountId,
  metaData: JSON.stringify({
    blockableId: accountId,
    service: 'overdue-service',
    stateName: blocked === true ? 'OD3' : blocked === false ? '__KILLBILL__CLEAR__OVERDUE_STATE__' : 'OD1',
    blockingType: 'ACCOUNT',
    effectiveDate: new Date().toISOString(),
    isTransitionedToBlockedBilling: blocked === true,
    isTransitionedToUnblockedBilling: blocked === false,
    isTransitionedToBlockedEntitlement: blocked === true,
    isTransitionedToUnblockedEntitlement: blocked === false,
  }),
});

export interface Delivery {
  status: number;
  body: any;
}

/** POSTs a body to the webhook as Kill Bill does: the token in the callback URL's query string. */
export async function deliver(
  daemon: { url: string },
  body: unknown,
  options: { token?: string | null; header?: string } = {},
): Promise<Delivery> {
  const token = options.token === undefined ? webhookToken : options.token;
  const query = token === null ? '' : `?token=${encodeURIComponent(token)}`;
  const response = await fetch(`${daemon.url}/webhooks/killbill${query}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json; charset=UTF-8',
      'user-agent': 'KillBill/1.0',
      ...(options.header ? { 'x-webhook-token': options.header } : {}),
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}
