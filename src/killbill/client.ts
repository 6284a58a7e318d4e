import { z } from 'zod';
import { describeIssues } from '../issues.js';
import type { KillbillApiConfig } from '../config/config.js';

export type KillbillErrorCode =
  | 'KILLBILL_NOT_CONFIGURED'
  | 'KILLBILL_UNREACHABLE'
  | 'KILLBILL_UNAUTHORIZED'
  | 'KILLBILL_NOT_FOUND'
  | 'KILLBILL_ERROR'
  | 'KILLBILL_BAD_RESPONSE';

/** A failed call to Kill Bill. The message names the call and what went wrong, never a credential. */
export class KillbillError extends Error {
  override readonly name = 'KillbillError';

  constructor(
    readonly code: KillbillErrorCode,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

// The subset of Kill Bill's documented JSON we read; other fields are dropped, absent optional ones read as null.
const subscriptionSchema = z.object({
  subscriptionId: z.string(),
  accountId: z.string(),
  bundleId: z.string().nullish(),
  externalKey: z.string().nullish(),
  productName: z.string().nullish(),
  planName: z.string().nullish(),
  /** TRIAL, DISCOUNT, FIXEDTERM or EVERGREEN. */
  phaseType: z.string().nullish(),
  /** PENDING, ACTIVE, BLOCKED, CANCELLED or EXPIRED: the entitlement state, BLOCKED when a service (overdue) blocks it. */
  state: z.string().nullish(),
  cancelledDate: z.string().nullish(),
});

const invoiceItemSchema = z.object({
  invoiceItemId: z.string(),
  /** Present only on items that belong to a subscription (not on adjustments, taxes, credits). */
  subscriptionId: z.string().nullish(),
  bundleId: z.string().nullish(),
  itemType: z.string().nullish(),
  amount: z.number().nullish(),
});

const invoiceSchema = z.object({
  invoiceId: z.string(),
  accountId: z.string(),
  amount: z.number().nullish(),
  currency: z.string().nullish(),
  /** DRAFT, COMMITTED or VOID. */
  status: z.string().nullish(),
  /** What is left to pay; 0 (or less, with credit) when paid. */
  balance: z.number(),
  items: z.array(invoiceItemSchema).nullish(),
});

const bundlesSchema = z.array(
  z.object({
    bundleId: z.string(),
    accountId: z.string(),
    externalKey: z.string().nullish(),
    subscriptions: z.array(subscriptionSchema).nullish(),
  }),
);

const accountSchema = z.object({
  accountId: z.string(),
  /** Our customer id: the frontend creates the account with it, and it tells whose instances the account pays for. */
  externalKey: z.string().nullish(),
});

export type KillbillAccount = z.output<typeof accountSchema>;
export type KillbillSubscription = z.output<typeof subscriptionSchema>;
export type KillbillInvoice = z.output<typeof invoiceSchema>;
export type KillbillBundle = z.output<typeof bundlesSchema>[number];

export interface KillbillClient {
  /** `GET /1.0/kb/subscriptions/{subscriptionId}` */
  getSubscription: (subscriptionId: string) => Promise<KillbillSubscription>;
  /** `GET /1.0/kb/invoices/{invoiceId}?withItems=true` */
  getInvoice: (invoiceId: string) => Promise<KillbillInvoice>;
  /** `GET /1.0/kb/accounts/{accountId}/bundles`: every bundle of the account with its subscriptions. */
  getAccountBundles: (accountId: string) => Promise<KillbillBundle[]>;
  /** `GET /1.0/kb/accounts/{accountId}`: its `externalKey` is the customer id it belongs to. */
  getAccount: (accountId: string) => Promise<KillbillAccount>;
}

/** A client for the configured Kill Bill tenant; without one, every call fails with a reason a person can act on. */
export function createKillbillClient(config: KillbillApiConfig | null): KillbillClient {
  if (!config) {
    const unconfigured = (what: string) => () =>
      Promise.reject(
        new KillbillError('KILLBILL_NOT_CONFIGURED', `Kill Bill's API is not configured (KILLBILL_URL is unset): cannot read ${what}.`),
      );
    return {
      getSubscription: unconfigured('the subscription'),
      getInvoice: unconfigured('the invoice'),
      getAccountBundles: unconfigured("the account's bundles"),
      getAccount: unconfigured('the account'),
    };
  }
  const get = getter(config);
  const id = (value: string) => encodeURIComponent(value);
  return {
    getSubscription: (subscriptionId) => get(`/subscriptions/${id(subscriptionId)}`, subscriptionSchema, `subscription ${subscriptionId}`),
    getInvoice: (invoiceId) => get(`/invoices/${id(invoiceId)}?withItems=true`, invoiceSchema, `invoice ${invoiceId}`),
    getAccountBundles: (accountId) => get(`/accounts/${id(accountId)}/bundles`, bundlesSchema, `the bundles of account ${accountId}`),
    getAccount: (accountId) => get(`/accounts/${id(accountId)}`, accountSchema, `account ${accountId}`),
  };
}

function getter(config: KillbillApiConfig) {
  // Kill Bill authenticates the user (Basic) and selects the tenant by its key and secret, on every request.
  const headers = {
    accept: 'application/json',
    authorization: `Basic ${Buffer.from(`${config.username}:${config.password}`).toString('base64')}`,
    'x-killbill-apikey': config.apiKey,
    'x-killbill-apisecret': config.apiSecret,
  };
  return async <T extends z.ZodType>(path: string, schema: T, what: string): Promise<z.output<T>> => {
    const call = `GET /1.0/kb${path}`;
    let response: Response;
    try {
      response = await fetch(`${config.url}/1.0/kb${path}`, { headers, signal: AbortSignal.timeout(config.timeoutMs) });
    } catch (error) {
      throw new KillbillError('KILLBILL_UNREACHABLE', `Kill Bill did not answer ${call}: ${networkReason(error, config.timeoutMs)}.`);
    }
    const text = await response.text().catch(() => '');
    if (response.status === 401 || response.status === 403) {
      throw new KillbillError(
        'KILLBILL_UNAUTHORIZED',
        `Kill Bill refused ${call} (HTTP ${response.status}): check KILLBILL_USERNAME/KILLBILL_PASSWORD and the tenant's KILLBILL_API_KEY/KILLBILL_API_SECRET.`,
        response.status,
      );
    }
    if (response.status === 404) throw new KillbillError('KILLBILL_NOT_FOUND', `Kill Bill has no ${what} (${call} answered 404).`, 404);
    if (!response.ok) {
      throw new KillbillError(
        'KILLBILL_ERROR',
        `Kill Bill answered HTTP ${response.status} to ${call}${killbillMessage(text)}.`,
        response.status,
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new KillbillError('KILLBILL_BAD_RESPONSE', `Kill Bill answered ${call} with something other than JSON.`, response.status);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      const problems = describeIssues(parsed.error.issues, { whole: 'body' }).join('; ');
      throw new KillbillError(
        'KILLBILL_BAD_RESPONSE',
        `Kill Bill's answer to ${call} is not the documented shape (${problems}).`,
        response.status,
      );
    }
    return parsed.data;
  };
}

/** Only a code or a timeout: a fetch error's own message can quote request headers, which carry the secret. */
function networkReason(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  return typeof cause?.code === 'string' ? cause.code : 'network error';
}

/** Kill Bill's error bodies are `{className, code, message}`; its message helps, so it is kept, shortened. */
function killbillMessage(text: string): string {
  try {
    const message = (JSON.parse(text) as { message?: unknown }).message;
    return typeof message === 'string' && message ? ` (${message.slice(0, 200)})` : '';
  } catch {
    return '';
  }
}
