import { sql } from 'kysely';
import type { Deps } from '../../deps.js';
import { scheduler } from './instance-events.js';
import { statusesWhere } from './instance-policy.js';
import { terminateInstance } from './termination.js';

/** Bounded per run, so one tick never runs long; the rest are due at the next. */
const BATCH = 20;

/** Why an instance is terminated once its time is up, by the column that says when. */
const deadlines = {
  purge_at: {
    cause: 'purge',
    event: 'instance.purged',
    failed: 'instance.purge_failed',
    message: 'grace period over: instance terminated',
  },
  staging_expires_at: {
    cause: 'staging-expiry',
    event: 'staging.expired',
    failed: 'staging.expiry_failed',
    message: 'staging copy expired: instance terminated',
  },
} as const;

async function terminateDue(deps: Deps, column: keyof typeof deadlines): Promise<void> {
  const { cause, event, failed, message } = deadlines[column];
  const due = await deps.db
    .selectFrom('instances')
    .select('id')
    .where(column, '<=', sql<Date>`now()`)
    .where('status', 'not in', statusesWhere('ended'))
    .orderBy(column)
    .limit(BATCH)
    .execute();
  for (const { id } of due) {
    try {
      await terminateInstance(deps, id, scheduler(cause));
      deps.log.info({ event, instanceId: id }, message);
    } catch (error) {
      deps.log.warn({ event: failed, instanceId: id, err: error }, `${cause} failed; tried again at the next run`);
    }
  }
}

/**
 * Terminates the instances whose cancelled subscription's grace period (purge_at) has passed, and the staging copies
 * whose time is up (staging_expires_at; a FINAL backup first, as for any termination).
 */
export async function purgeDueInstances(deps: Deps): Promise<void> {
  await terminateDue(deps, 'purge_at');
  await terminateDue(deps, 'staging_expires_at');
}
