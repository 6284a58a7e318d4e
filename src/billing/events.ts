import { sql } from 'kysely';
import { billingEventStatuses, type BillingEventRow, type BillingEventStatus } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { DomainError } from '../errors.js';
import type { KillbillNotification } from './notification.js';

export interface RecordedEvent {
  id: string;
  status: BillingEventStatus;
  /** This delivery repeated one already recorded: nothing new was written. */
  duplicate: boolean;
}

/**
 * Writes a delivery once, whatever the number of deliveries and however many arrive at once: the dedupe key is
 * unique, so a repeat finds the first row. An event nobody acts on is written as `ignored`, with the reason.
 */
export async function recordEvent(
  deps: Pick<Deps, 'db'>,
  notification: KillbillNotification,
  dedupeKey: string,
  ignoredBecause: string | null,
): Promise<RecordedEvent> {
  const inserted = await deps.db
    .insertInto('billing_events')
    .values({
      dedupe_key: dedupeKey,
      event_type: notification.eventType,
      object_type: notification.objectType,
      object_id: notification.objectId,
      account_id: notification.accountId,
      meta_data: notification.metaData,
      status: ignoredBecause ? 'ignored' : 'received',
      outcome: ignoredBecause,
      next_attempt_at: ignoredBecause ? null : sql<Date>`now()`,
      processed_at: ignoredBecause ? sql<Date>`now()` : null,
    })
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .returning(['id', 'status'])
    .executeTakeFirst();
  if (inserted) return { ...inserted, duplicate: false };
  const existing = await deps.db.selectFrom('billing_events').select(['id', 'status']).where('dedupe_key', '=', dedupeKey).executeTakeFirstOrThrow();
  return { ...existing, duplicate: true };
}

export interface BillingEventFilter {
  status?: BillingEventStatus | null;
  first: number;
}

/** Newest first; for the GraphQL schema (admins) and operators looking for what failed. */
export async function listBillingEvents(deps: Pick<Deps, 'db'>, filter: BillingEventFilter): Promise<BillingEventRow[]> {
  const { status, first } = filter;
  if (!Number.isInteger(first) || first < 1 || first > 200) throw new DomainError('VALIDATION_FAILED', 'first: must be between 1 and 200', 'first');
  if (status && !billingEventStatuses.includes(status)) {
    throw new DomainError('VALIDATION_FAILED', `status: must be one of ${billingEventStatuses.join(', ')}`, 'status');
  }
  let query = deps.db.selectFrom('billing_events').selectAll();
  if (status) query = query.where('status', '=', status);
  return query.orderBy('received_at', 'desc').orderBy('id', 'desc').limit(first).execute();
}

export async function getBillingEvent(deps: Pick<Deps, 'db'>, id: string): Promise<BillingEventRow | undefined> {
  return deps.db.selectFrom('billing_events').selectAll().where('id', '=', id).executeTakeFirst();
}
