import type { BackupRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { advanceBackup, backupInstance } from './backups.js';
import type { Trigger } from '../instances/instance-events.js';

/** A failed final backup is asked for again after this long, not at every look. */
const FINAL_RETRY_SECONDS = 60;

/**
 * The FINAL backup taken for something that began at `since` (a termination, a restore): advanced one step, or
 * started when there is none (or the last failed a while ago). While another backup of the instance runs, that one is
 * returned: the final one follows it. Callers go on only with a FINAL backup that is COMPLETED.
 */
export async function finalBackupSince(deps: Deps, instanceId: string, since: Date, trigger: Trigger): Promise<BackupRow> {
  const latest = await deps.db
    .selectFrom('backups')
    .selectAll()
    .where('instance_id', '=', instanceId)
    .where('kind', '=', 'FINAL')
    .where('not_before', '>=', since)
    .orderBy('not_before', 'desc')
    .executeTakeFirst();
  if (latest && latest.status !== 'FAILED') return advanceBackup(deps, latest);
  if (latest && (latest.finished_at?.getTime() ?? 0) > Date.now() - FINAL_RETRY_SECONDS * 1000) return latest;
  const backup = await backupInstance(deps, instanceId, trigger, 'FINAL');
  return backup.kind === 'FINAL' ? backup : advanceBackup(deps, backup);
}

export const isCompletedFinal = (backup: BackupRow): boolean => backup.kind === 'FINAL' && backup.status === 'COMPLETED';
