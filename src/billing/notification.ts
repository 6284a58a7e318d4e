import { createHash } from 'node:crypto';
import { z } from 'zod';
import { isUuid } from '../domain/names.js';
import { describeIssues } from '../issues.js';

/**
 * A Kill Bill push notification as it is POSTed to the callback (Kill Bill's `NotificationJson`):
 * `metaData` is JSON text (or a plain string for tag and tenant events), never an object.
 */
export interface KillbillNotification {
  eventType: string;
  objectType: string;
  objectId: string | null;
  accountId: string | null;
  metaData: string | null;
}

export type ParsedNotification = { ok: true; notification: KillbillNotification; dedupeKey: string } | { ok: false; reason: string };

/** Events whose documented metadata is a JSON object (SubscriptionMetadata, BlockingStateMetadata, ...). */
const jsonMetadataEvents = new Set([
  'SUBSCRIPTION_CREATION',
  'SUBSCRIPTION_PHASE',
  'SUBSCRIPTION_CHANGE',
  'SUBSCRIPTION_CANCEL',
  'SUBSCRIPTION_UNCANCEL',
  'SUBSCRIPTION_BCD_CHANGE',
  'BLOCKING_STATE',
  'BROADCAST_SERVICE',
  'INVOICE_NOTIFICATION',
  'INVOICE_PAYMENT_SUCCESS',
  'INVOICE_PAYMENT_FAILED',
  'PAYMENT_SUCCESS',
  'PAYMENT_FAILED',
]);

/** Events we act on name their object and account by id: without them there is nothing to look up. */
const objectIdRequired = new Set([
  'SUBSCRIPTION_CREATION',
  'SUBSCRIPTION_CANCEL',
  'SUBSCRIPTION_UNCANCEL',
  'SUBSCRIPTION_CHANGE',
  'INVOICE_PAYMENT_SUCCESS',
  'BLOCKING_STATE',
]);
const accountIdRequired = new Set([...objectIdRequired, 'OVERDUE_CHANGE']);

const enumName = (example: string) =>
  z.string({ error: 'must be a string' }).regex(/^[A-Z][A-Z0-9_]{0,59}$/, `must be an upper-case Kill Bill name such as ${example}`);
const idOrNull = z
  .string({ error: 'must be a UUID or null' })
  .refine(isUuid, 'must be a UUID or null')
  .transform((id) => id.toLowerCase())
  .nullable()
  // Tenant-wide events carry no account; a serializer that drops nulls leaves the key out altogether.
  .optional();

const bodySchema = z
  .object(
    {
      eventType: enumName('SUBSCRIPTION_CREATION'),
      objectType: enumName('SUBSCRIPTION'),
      objectId: idOrNull,
      accountId: idOrNull,
      metaData: z
        .string({ error: 'must be a string holding JSON, or null' })
        .max(16_384, 'must be at most 16384 characters')
        .nullable()
        .optional(),
    },
    { error: 'must be a JSON object' },
  )
  .superRefine((body, ctx) => {
    if (objectIdRequired.has(body.eventType) && !body.objectId) {
      ctx.addIssue({ code: 'custom', path: ['objectId'], message: `is required for ${body.eventType}` });
    }
    if (accountIdRequired.has(body.eventType) && !body.accountId) {
      ctx.addIssue({ code: 'custom', path: ['accountId'], message: `is required for ${body.eventType}` });
    }
    if (typeof body.metaData === 'string' && jsonMetadataEvents.has(body.eventType) && !holdsJsonObject(body.metaData)) {
      ctx.addIssue({ code: 'custom', path: ['metaData'], message: `must be a string holding a JSON object for ${body.eventType}` });
    }
  });

function holdsJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

/** Parses `metaData` as the JSON object it holds; anything else reads as no metadata. */
export function metadataOf(notification: KillbillNotification): Record<string, unknown> {
  if (notification.metaData === null) return {};
  try {
    const value: unknown = JSON.parse(notification.metaData);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * The fields in a fixed order: two deliveries of one notification give the same text whatever the key order or
 * extra fields of each, so its hash identifies the notification.
 */
export function canonicalBody(n: KillbillNotification): string {
  return JSON.stringify([n.eventType, n.objectType, n.objectId, n.accountId, n.metaData]);
}

export const dedupeKeyOf = (n: KillbillNotification): string => createHash('sha256').update(canonicalBody(n)).digest('hex');

/** Validates a delivered body; the reason names each offending field and its rule. */
export function parseNotification(raw: string): ParsedNotification {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'body: is not valid JSON' };
  }
  const parsed = bodySchema.safeParse(json);
  if (!parsed.success) {
    const input = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
    const reason = describeIssues(parsed.error.issues, { whole: 'body', input }).join('; ');
    return { ok: false, reason };
  }
  const { eventType, objectType, objectId, accountId, metaData } = parsed.data;
  const notification: KillbillNotification = {
    eventType,
    objectType,
    objectId: objectId ?? null,
    accountId: accountId ?? null,
    metaData: metaData ?? null,
  };
  return { ok: true, notification, dedupeKey: dedupeKeyOf(notification) };
}
