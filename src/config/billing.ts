import { z } from 'zod';
import { cronExpression, int, urlWithScheme } from './rules.js';

/** Kill Bill's callback URL carries the token in its query string: only characters that need no escaping there. */
const urlSafeSecret = z.string().regex(/^[A-Za-z0-9._~-]{24,200}$/, 'must be 24-200 letters, digits or . _ ~ -');
// The key and secret travel as header values as they are: printable ASCII only.
const headerValue = z.string().regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/** Variables that may come from a file (`NAME_FILE`, a Docker secret). */
export const billingSecretNames = [
  'KILLBILL_WEBHOOK_TOKEN',
  'KILLBILL_API_KEY',
  'KILLBILL_API_SECRET',
  'KILLBILL_USERNAME',
  'KILLBILL_PASSWORD',
];

/** Kill Bill: the webhook's shared secret, the API the daemon asks for facts, and how events are retried and kept. */
export const billingSection = z
  .object({
    KILLBILL_WEBHOOK_TOKEN: urlSafeSecret
      .optional()
      .describe("the webhook's shared secret: 24-200 of `A-Z a-z 0-9 . _ ~ -`")
      .meta({ shownDefault: 'none (webhook answers 503)' }),
    KILLBILL_URL: urlWithScheme(['http:', 'https:'])
      .refine(
        (value) => !URL.canParse(value) || (!new URL(value).username && !new URL(value).password),
        'must not carry credentials (use KILLBILL_USERNAME and KILLBILL_PASSWORD)',
      )
      .optional()
      .describe("Kill Bill's base URL, without credentials"),
    KILLBILL_API_KEY: headerValue
      .optional()
      .describe("the Kill Bill tenant's API key")
      .meta({ shownDefault: 'required with `KILLBILL_URL`' }),
    KILLBILL_API_SECRET: headerValue
      .optional()
      .describe("the Kill Bill tenant's API secret")
      .meta({ shownDefault: 'required with `KILLBILL_URL`' }),
    KILLBILL_USERNAME: z
      .string()
      .regex(/^[^:\p{Cc}]+$/u, 'must not be empty, nor contain a colon or control characters')
      .optional()
      .describe('the API user (Basic auth)')
      .meta({ shownDefault: 'required with `KILLBILL_URL`' }),
    KILLBILL_PASSWORD: z
      .string()
      .min(1)
      .optional()
      .describe("the API user's password")
      .meta({ shownDefault: 'required with `KILLBILL_URL`' }),
    KILLBILL_TIMEOUT_MS: int(100, 120_000).default(10_000).describe('per call to Kill Bill'),
    BILLING_RETRY_CRON: cronExpression.default('*/5 * * * * *').describe("the billing events' retry job"),
    BILLING_RETRY_BASE_SECONDS: int(1, 3600).default(5).describe('backoff of failed events: the first wait, doubling per attempt'),
    BILLING_RETRY_MAX_SECONDS: int(1, 7 * 24 * 3600)
      .default(3600)
      .describe('backoff of failed events: the longest wait'),
    BILLING_DEDUPE_SECONDS: int(0, 30 * 24 * 3600)
      .default(600)
      .describe('identical bodies within this are one delivery'),
    BILLING_MAX_ATTEMPTS: int(1, 1000).default(25).describe('failed tries before an event is `abandoned`'),
    BILLING_WAIT_FOR_INSTANCE_SECONDS: int(0, 30 * 24 * 3600)
      .default(3600)
      .describe('how long an event waits for an instance still to be created'),
    // Read only to tell the two secrets apart.
    ADMIN_TOKEN: z.string().optional(),
  })
  .superRefine((e, context) => {
    if (e.KILLBILL_URL) {
      for (const name of ['KILLBILL_API_KEY', 'KILLBILL_API_SECRET', 'KILLBILL_USERNAME', 'KILLBILL_PASSWORD'] as const) {
        if (!e[name]) context.addIssue({ code: 'custom', path: [name], message: 'is required when KILLBILL_URL is set' });
      }
    }
    if (e.KILLBILL_WEBHOOK_TOKEN && e.KILLBILL_WEBHOOK_TOKEN === e.ADMIN_TOKEN) {
      context.addIssue({ code: 'custom', path: ['KILLBILL_WEBHOOK_TOKEN'], message: 'must differ from ADMIN_TOKEN' });
    }
  })
  .transform((e) => ({
    billing: {
      /** Shared secret Kill Bill's callback URL carries (`?token=`); unset, the webhook answers 503. */
      webhookToken: e.KILLBILL_WEBHOOK_TOKEN ?? null,
      /** Unset (no KILLBILL_URL): events are still recorded, and fail with a clear reason until it is set. */
      killbill: e.KILLBILL_URL
        ? {
            url: e.KILLBILL_URL.replace(/\/+$/, ''),
            apiKey: e.KILLBILL_API_KEY!,
            apiSecret: e.KILLBILL_API_SECRET!,
            username: e.KILLBILL_USERNAME!,
            password: e.KILLBILL_PASSWORD!,
            timeoutMs: e.KILLBILL_TIMEOUT_MS,
          }
        : null,
      retryCron: e.BILLING_RETRY_CRON,
      retryBaseSeconds: e.BILLING_RETRY_BASE_SECONDS,
      retryMaxSeconds: e.BILLING_RETRY_MAX_SECONDS,
      /** Identical bodies within this many seconds are one delivery; later, the same body is a new event. */
      dedupeSeconds: e.BILLING_DEDUPE_SECONDS,
      /** Failed tries after which an event is abandoned (retryBillingEvent tries it again). */
      maxAttempts: e.BILLING_MAX_ATTEMPTS,
      /** How long an event waits for an instance that may still be created with its subscription. */
      waitForInstanceSeconds: e.BILLING_WAIT_FOR_INSTANCE_SECONDS,
    },
  }))
  .meta({ title: 'Billing (Kill Bill)' });

export type BillingConfig = z.output<typeof billingSection>['billing'];
export type KillbillApiConfig = NonNullable<BillingConfig['killbill']>;
