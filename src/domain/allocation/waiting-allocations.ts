import { sql } from 'kysely';
import type { Deps } from '../../deps.js';
import { DomainError } from '../../errors.js';
import { allocateDatabase } from './allocation.js';
import { scheduler } from '../instances/instance-events.js';

const BATCH = 50;
/** A CREATING row this old was left by a daemon that stopped mid-allocation. */
const STALE_CREATING_SECONDS = 30;

/**
 * Allocates instances that wait for a database, oldest first, while pools have room; finishes (or releases)
 * reservations whose caller is gone (a daemon killed between reserving a slot and confirming it).
 */
export async function retryWaitingAllocations(deps: Deps): Promise<void> {
  const waiting = await deps.db
    .selectFrom('instances')
    .select('id')
    .where((eb) =>
      eb.or([
        eb.and([eb('status', '=', 'WAITING_FOR_DATABASE'), eb('db_allocation', 'is', null)]),
        eb.and([
          eb('status', '=', 'CREATING'),
          eb('db_allocation', 'is', null),
          eb('status_changed_at', '<', sql<Date>`now() - make_interval(secs => ${STALE_CREATING_SECONDS})`),
        ]),
        eb.and([
          eb('status', 'in', ['CREATING', 'WAITING_FOR_DATABASE']),
          eb('db_allocation', '=', 'reserved'),
          eb('db_reserved_until', '<', sql<Date>`now()`),
        ]),
      ]),
    )
    .orderBy('created_at')
    .limit(BATCH)
    .execute();
  for (const { id } of waiting) {
    try {
      await allocateDatabase(deps, id, scheduler('allocation-retry'));
    } catch (error) {
      if (error instanceof DomainError && error.code === 'NO_POOL_CAPACITY') return;
      deps.log.warn({ event: 'allocation.retry_failed', instanceId: id, err: error }, 'allocation retry failed');
    }
  }
}
