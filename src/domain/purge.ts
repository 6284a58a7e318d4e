import { sql } from 'kysely';
import type { Deps } from '../deps.js';
import { scheduler } from './instance-events.js';
import { endedStatuses } from './instance-status.js';
import { terminateInstance } from './termination.js';

/** Bounded per run, so one tick never runs long; the rest are due at the next. */
const BATCH = 20;

/** Terminates the instances whose cancelled subscription's grace period (purge_at) has passed. */
export async function purgeDueInstances(deps: Deps): Promise<void> {
  const due = await deps.db
    .selectFrom('instances')
    .select('id')
    .where('purge_at', '<=', sql<Date>`now()`)
    .where('status', 'not in', endedStatuses)
    .orderBy('purge_at')
    .limit(BATCH)
    .execute();
  for (const { id } of due) {
    try {
      await terminateInstance(deps, id, scheduler('purge'));
      deps.log.info({ event: 'instance.purged', instanceId: id }, 'grace period over: instance terminated');
    } catch (error) {
      deps.log.warn({ event: 'instance.purge_failed', instanceId: id, err: error }, 'purge failed; tried again at the next run');
    }
  }
}
