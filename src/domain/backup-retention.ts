import { rm } from 'node:fs/promises';
import type { BackupConfig } from '../config/config.js';
import type { BackupStatus } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { backupDir } from '../swarm/backup-job.js';

export interface RetainedBackup {
  id: string;
  status: BackupStatus;
  created_at: Date;
}

export type RetentionPolicy = Pick<BackupConfig, 'keepDaily' | 'keepWeekly' | 'keepMonthly' | 'keepAfterTerminationDays'>;

const DAY_MS = 24 * 3600 * 1000;

const dayOf = (date: Date) => date.toISOString().slice(0, 10);
const monthOf = (date: Date) => date.toISOString().slice(0, 7);
/** A week (UTC, Monday to Sunday) by its Monday's date. */
const weekOf = (date: Date) => dayOf(new Date(date.getTime() - ((date.getUTCDay() + 6) % 7) * DAY_MS));

/** The newest backup of each of the `count` most recent periods that have one. */
function newestPerPeriod(newestFirst: RetainedBackup[], period: (date: Date) => string, count: number): string[] {
  const kept = new Map<string, string>();
  for (const backup of newestFirst) {
    const key = period(backup.created_at);
    if (kept.size >= count && !kept.has(key)) break;
    if (!kept.has(key)) kept.set(key, backup.id);
  }
  return [...kept.values()];
}

/**
 * Pure: which of an instance's backups have expired at `now`. Completed ones are kept as the newest of each of the
 * last `keepDaily` days, `keepWeekly` ISO weeks and `keepMonthly` months that have one (the newest always); failed
 * ones after `keepDaily` days; none in flight. A terminated instance keeps all of them for `keepAfterTerminationDays`,
 * then none.
 */
export function expiredBackups(backups: RetainedBackup[], policy: RetentionPolicy, now: Date, terminatedAt: Date | null): string[] {
  if (terminatedAt) {
    const expired = now.getTime() - terminatedAt.getTime() > policy.keepAfterTerminationDays * DAY_MS;
    return expired
      ? backups.filter((backup) => backup.status === 'COMPLETED' || backup.status === 'FAILED').map((backup) => backup.id)
      : [];
  }
  const completed = backups
    .filter((backup) => backup.status === 'COMPLETED')
    .sort((a, b) => b.created_at.getTime() - a.created_at.getTime());
  const keep = new Set([
    ...completed.slice(0, 1).map((backup) => backup.id),
    ...newestPerPeriod(completed, dayOf, policy.keepDaily),
    ...newestPerPeriod(completed, weekOf, policy.keepWeekly),
    ...newestPerPeriod(completed, monthOf, policy.keepMonthly),
  ]);
  const failedBefore = now.getTime() - Math.max(policy.keepDaily, 1) * DAY_MS;
  return backups
    .filter(
      (backup) =>
        (backup.status === 'COMPLETED' && !keep.has(backup.id)) ||
        (backup.status === 'FAILED' && backup.created_at.getTime() < failedBefore),
    )
    .map((backup) => backup.id);
}

/**
 * The leader's retention pass at `now`: each expired backup's files go, then its row, together (a backup an unfinished
 * restore reads is kept). A pass that stops half-way leaves a row whose files are gone; the next pass deletes it.
 */
export async function applyRetention(deps: Deps, now = new Date()): Promise<number> {
  deps.storage.assertAvailable();
  const instances = await deps.db
    .selectFrom('instances')
    .select(['id', 'status', 'status_changed_at'])
    .where((eb) => eb.exists(eb.selectFrom('backups').select('backups.id').whereRef('backups.instance_id', '=', 'instances.id')))
    .execute();
  let pruned = 0;
  for (const instance of instances) {
    const backups = await deps.db
      .selectFrom('backups')
      .select(['id', 'status', 'created_at'])
      .where('instance_id', '=', instance.id)
      .execute();
    const inUse = new Set(
      (await deps.db.selectFrom('restores').select('backup_id').where('status', 'not in', ['COMPLETED', 'FAILED']).execute()).map(
        (restore) => restore.backup_id,
      ),
    );
    const terminatedAt = instance.status === 'TERMINATED' ? instance.status_changed_at : null;
    for (const id of expiredBackups(backups, deps.config.backups, now, terminatedAt).filter((id) => !inUse.has(id))) {
      await rm(backupDir(deps.config.cephfsRoot, instance.id, id), { recursive: true, force: true });
      await deps.db.deleteFrom('backups').where('id', '=', id).where('status', 'in', ['COMPLETED', 'FAILED']).execute();
      deps.log.info({ event: 'backup.pruned', instanceId: instance.id, backupId: id }, 'expired backup deleted');
      pruned += 1;
    }
  }
  return pruned;
}
