import { sql, type Transaction } from 'kysely';
import type { BillingEventRow, Database } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { withTransaction } from '../db/transaction.js';
import { changePlan, endCancelled, startPaid, startTrial, undoCancellation, type EventContext, type Settled } from './actions.js';
import { describeError } from './instances.js';
import { intentOf, type Intent } from './intent.js';
import { createKillbillClient, type KillbillClient } from '../killbill/client.js';
import { applyEntitlement } from './overdue.js';
import { retryDelaySeconds } from './retry-policy.js';

const unsettled = ['received', 'failed'] as const;

/**
 * Processes one event if it is still open and no one else holds it. The row stays locked (FOR UPDATE SKIP LOCKED)
 * while its actions run, so another daemon, or the retry job in this one, passes over it instead of repeating them.
 */
export async function processBillingEvent(deps: Deps, eventId: string): Promise<BillingEventRow | undefined> {
  return withTransaction(deps.db, async (trx) => {
    const event = await trx
      .selectFrom('billing_events')
      .selectAll()
      .where('id', '=', eventId)
      .where('status', 'in', unsettled)
      .forUpdate()
      .skipLocked()
      .executeTakeFirst();
    return event && settle(deps, trx, event);
  });
}

/** Takes due events one at a time, oldest due first, at most `limit`; returns how many it settled. */
export async function processDueBillingEvents(deps: Deps, limit: number): Promise<number> {
  let count = 0;
  while (count < limit) {
    const settled = await withTransaction(deps.db, async (trx) => {
      const event = await trx
        .selectFrom('billing_events')
        .selectAll()
        .where('status', 'in', unsettled)
        .where('next_attempt_at', '<=', sql<Date>`now()`)
        .orderBy('next_attempt_at')
        .limit(1)
        .forUpdate()
        .skipLocked()
        .executeTakeFirst();
      return event && settle(deps, trx, event);
    });
    if (!settled) break;
    count += 1;
  }
  return count;
}

const handle = (
  deps: Deps,
  client: KillbillClient,
  intent: Exclude<Intent, { kind: 'ignore' }>,
  context: EventContext,
): Promise<Settled> => {
  switch (intent.kind) {
    case 'trial':
      return startTrial(deps, client, intent, context);
    case 'payment':
      return startPaid(deps, client, intent, context);
    case 'cancellation':
      return endCancelled(deps, client, intent, context);
    case 'uncancellation':
      return undoCancellation(deps, client, intent, context);
    case 'planChange':
      return changePlan(deps, client, intent, context);
    case 'entitlement':
      return applyEntitlement(deps, client, intent, context);
  }
};

/** Runs the event's actions and records how they ended, in the transaction that holds the row. */
async function settle(deps: Deps, trx: Transaction<Database>, event: BillingEventRow): Promise<BillingEventRow> {
  const intent = intentOf({
    eventType: event.event_type,
    objectType: event.object_type,
    objectId: event.object_id,
    accountId: event.account_id,
    metaData: event.meta_data,
  });
  const log = { eventId: event.id, eventType: event.event_type, objectId: event.object_id, attempt: event.attempts + 1 };
  let settled: Settled;
  try {
    settled =
      intent.kind === 'ignore'
        ? { status: 'ignored', outcome: intent.reason }
        : await handle(deps, createKillbillClient(deps.config.billing.killbill), intent, { receivedAt: event.received_at });
  } catch (error) {
    return fail(deps, trx, event, describeError(error).slice(0, 4000), log);
  }
  const done = await trx
    .updateTable('billing_events')
    .set({
      status: settled.status,
      attempts: event.attempts + 1,
      outcome: settled.outcome.slice(0, 4000),
      next_attempt_at: null,
      processed_at: sql<Date>`now()`,
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', event.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  deps.log.info({ event: `billing.event_${settled.status}`, ...log, outcome: settled.outcome }, `billing event ${settled.status}`);
  return done;
}

/**
 * Records a failed try: retried after a growing delay, until BILLING_MAX_ATTEMPTS tries have failed; then the event is
 * `abandoned` with its reason (counted in /metrics) until an admin's retryBillingEvent.
 */
async function fail(
  deps: Deps,
  trx: Transaction<Database>,
  event: BillingEventRow,
  lastError: string,
  log: Record<string, unknown>,
): Promise<BillingEventRow> {
  const attempts = event.attempts + 1;
  const abandon = attempts >= deps.config.billing.maxAttempts;
  const delay = retryDelaySeconds(attempts, deps.config.billing.retryBaseSeconds, deps.config.billing.retryMaxSeconds);
  const failed = await trx
    .updateTable('billing_events')
    .set({
      status: abandon ? 'abandoned' : 'failed',
      attempts,
      last_error: lastError,
      next_attempt_at: abandon ? null : sql<Date>`now() + make_interval(secs => ${delay})`,
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', event.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  if (abandon) {
    deps.metrics.billingEventsAbandoned.inc({ event_type: event.event_type });
    deps.log.error(
      { event: 'billing.event_abandoned', ...log, error: lastError },
      `billing event abandoned after ${attempts} failed tries`,
    );
  } else {
    deps.log.warn(
      { event: 'billing.event_failed', ...log, error: lastError, retryInSeconds: delay },
      'billing event failed; it will be retried',
    );
  }
  return failed;
}

/**
 * One queue per daemon for work started by the webhook: events are processed one after another, so a burst of
 * deliveries cannot hold every database connection while each waits for another one.
 */
const queues = new WeakMap<Deps, Promise<void>>();

/** Starts processing after the delivery is answered; a failure here is recorded on the row, or left to the retry job. */
export function processInBackground(deps: Deps, eventId: string): void {
  const tail = (queues.get(deps) ?? Promise.resolve()).then(() =>
    processBillingEvent(deps, eventId).then(
      () => undefined,
      (error: unknown) =>
        deps.log.error(
          { event: 'billing.process_error', eventId, err: error },
          'billing event could not be processed; the retry job will take it',
        ),
    ),
  );
  queues.set(deps, tail);
}

/** Resolves once the work the webhook started has ended (for an orderly stop, and for tests). */
export const backgroundBillingWork = (deps: Deps): Promise<void> => queues.get(deps) ?? Promise.resolve();
