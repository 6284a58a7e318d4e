import { processDueBillingEvents } from '../billing/processor.js';
import type { Deps } from '../deps.js';
import type { Job } from './scheduler.js';

/** Bounded per run, so one tick never runs long; what is left is due at the next. */
const BATCH = 20;

/**
 * Processes billing events that are due: those whose in-process start was lost (a daemon stopped just after
 * answering) and failed ones whose backoff has passed. Rows are claimed with FOR UPDATE SKIP LOCKED, one at a time,
 * so daemons running this side by side split the work instead of repeating it.
 */
export async function retryBillingEvents(deps: Deps): Promise<void> {
  const settled = await processDueBillingEvents(deps, BATCH);
  if (settled > 0) deps.log.debug({ event: 'billing.retry_run', settled }, 'billing events retried');
}

export const billingRetryJob = (schedule: string): Job => ({ name: 'billing-retry', schedule, run: retryBillingEvents });
