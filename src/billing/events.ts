import { sql } from 'kysely';
import { billingEventStatuses, type BillingEventRow, type BillingEventStatus } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { withTransaction } from '../db/transaction.js';
import { isUuid } from '../domain/names.js';
import { checkPageSize, pageOf, readTimeCursor, timeCursor, toMillisecond, type Page, type PageRequest } from '../domain/pages.js';
import { DomainError, notFound } from '../errors.js';
import type { KillbillNotification } from './notification.js';

export interface RecordedEvent {
  id: string;
  status: BillingEventStatus;
  /** This delivery repeated one already recorded: nothing new was written. */
  duplicate: boolean;
}

/**
 * Writes a delivery once per BILLING_DEDUPE_SECONDS, however many copies arrive and however many at once: deliveries
 * of one body take turns (a transaction-scoped advisory lock on its key), and a copy within the window finds the
 * first row. Later, the same body is a new event: Kill Bill sends identical bodies for a later overdue episode of the
 * same account. An event nobody acts on is written as `ignored`, with the reason.
 */
export async function recordBillingEvent(
  deps: Pick<Deps, 'db' | 'config'>,
  notification: KillbillNotification,
  dedupeKey: string,
  ignoredBecause: string | null,
): Promise<RecordedEvent> {
  return withTransaction(deps.db, async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtextextended(${`billing:${dedupeKey}`}, 0))`.execute(trx);
    const existing = await trx
      .selectFrom('billing_events')
      .select(['id', 'status'])
      .where('dedupe_key', '=', dedupeKey)
      .where('received_at', '>', sql<Date>`now() - make_interval(secs => ${deps.config.billing.dedupeSeconds})`)
      .orderBy('received_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (existing) return { ...existing, duplicate: true };
    const inserted = await trx
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
      .returning(['id', 'status'])
      .executeTakeFirstOrThrow();
    return { ...inserted, duplicate: false };
  });
}

/** Statuses an admin may send back to processing: given up, failing, or left alone for a reason that may have passed. */
const retryable: BillingEventStatus[] = ['abandoned', 'failed', 'ignored'];

/** Opens the event again with a fresh count of tries, due now; the caller processes it. */
export async function reopenBillingEvent(deps: Pick<Deps, 'db'>, id: string): Promise<void> {
  if (!isUuid(id)) throw notFound('Billing event', id);
  const reopened = await deps.db
    .updateTable('billing_events')
    .set({ status: 'received', attempts: 0, next_attempt_at: sql<Date>`now()`, processed_at: null, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('status', 'in', retryable)
    .returning('id')
    .executeTakeFirst();
  if (reopened) return;
  const event = await getBillingEvent(deps, id);
  if (!event) throw notFound('Billing event', id);
  if (event.status !== 'received')
    throw new DomainError('CONFLICT', `Billing event ${id} is ${event.status}: only ${retryable.join(', ')} events are tried again.`);
}

export interface BillingEventFilter {
  status?: BillingEventStatus | null;
}

/** Newest first, `first` at a time (1 to 200); for the GraphQL schema (admins) and operators looking for what failed. */
export async function listBillingEvents(
  deps: Pick<Deps, 'db'>,
  filter: BillingEventFilter,
  request: PageRequest,
): Promise<Page<BillingEventRow>> {
  const { status } = filter;
  const first = checkPageSize(request.first, 200);
  if (status && !billingEventStatuses.includes(status)) {
    throw new DomainError('VALIDATION_FAILED', `status: must be one of ${billingEventStatuses.join(', ')}`, 'status');
  }
  let query = deps.db.selectFrom('billing_events').selectAll();
  if (status) query = query.where('status', '=', status);
  if (request.after) {
    const cursor = readTimeCursor(request.after);
    query = query.where(sql<boolean>`(${toMillisecond('received_at')}, id) < (${cursor.at}, ${cursor.id}::uuid)`);
  }
  const rows = await query
    .orderBy(toMillisecond('received_at'), 'desc')
    .orderBy('id', 'desc')
    .limit(first + 1)
    .execute();
  return pageOf(rows, request, (row) => timeCursor(row.received_at, row.id));
}

export async function getBillingEvent(deps: Pick<Deps, 'db'>, id: string): Promise<BillingEventRow | undefined> {
  if (!isUuid(id)) return undefined;
  return deps.db.selectFrom('billing_events').selectAll().where('id', '=', id).executeTakeFirst();
}
