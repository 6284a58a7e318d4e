import { sql } from 'kysely';
import type { InstanceRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { DomainError } from '../../errors.js';
import { recordEvent, type Trigger } from './instance-events.js';

/**
 * provisionInstance on an instance that is loading from a backup: provisioning is recorded and follows the load.
 * Returns the instance then, or null when no load is under way. A failed load is refused: the tenant would start empty.
 */
export async function provisionAfterLoad(deps: Deps, instanceId: string, trigger: Trigger): Promise<InstanceRow | null> {
  const load = await deps.db
    .selectFrom('restores')
    .selectAll()
    .where('instance_id', '=', instanceId)
    .where('mode', '=', 'load')
    .executeTakeFirst();
  if (!load || load.status === 'COMPLETED') return null;
  if (load.status === 'FAILED')
    throw new DomainError(
      'CONFLICT',
      `Instance ${instanceId} could not be loaded from backup ${load.backup_id} (${load.error}); terminate it and create it again.`,
    );
  const marked = await deps.db
    .updateTable('restores')
    .set({ provision_requested_by: trigger.actor, updated_at: sql`now()` })
    .where('id', '=', load.id)
    .where('status', 'not in', ['COMPLETED', 'FAILED'])
    .executeTakeFirst();
  if (marked.numUpdatedRows === 0n) return null;
  if (!load.provision_requested_by) await recordEvent(deps, deps.db, instanceId, trigger, 'provisioning follows the load from backup');
  return deps.db.selectFrom('instances').selectAll().where('id', '=', instanceId).executeTakeFirstOrThrow();
}
