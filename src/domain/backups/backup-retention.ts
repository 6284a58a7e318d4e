import type { BackupConfig } from '../../config/config.js';
import type { BackupKind, BackupStatus } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { pruneBackup } from '../offsite/offsite-retention.js';

export interface RetainedBackup {
  id: string;
  kind: BackupKind;
  status: BackupStatus;
  created_at: Date;
}

export type RetentionPolicy = Pick<BackupConfig, 'keepDaily' | 'keepWeekly' | 'keepMonthly' | 'keepAfterTerminationDays' | 'keepFinalDays'>;

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
 * Backups no thinning may take before `keepFinalDays`: every completed FINAL (the only copy of what a termination
 * dropped or a restore replaced) and the newest completed MANUAL (the one a customer asked for).
 */
function protectedBackups(completedNewestFirst: RetainedBackup[], policy: RetentionPolicy, now: Date): Set<string> {
  const young = (backup: RetainedBackup) => now.getTime() - backup.created_at.getTime() <= policy.keepFinalDays * DAY_MS;
  const newestManual = completedNewestFirst.find((backup) => backup.kind === 'MANUAL');
  return new Set(
    completedNewestFirst
      .filter((backup) => (backup.kind === 'FINAL' || backup === newestManual) && young(backup))
      .map((backup) => backup.id),
  );
}

/**
 * Pure: which of an instance's backups have expired at `now`. Completed ones are kept as the newest of each of the
 * last `keepDaily` days, `keepWeekly` ISO weeks and `keepMonthly` months that have one (the newest always); failed
 * ones after `keepDaily` days; none in flight. A terminated instance keeps all of them for `keepAfterTerminationDays`,
 * then none. Either way FINAL backups and the newest MANUAL one stay for `keepFinalDays` at least.
 */
export function expiredBackups(backups: RetainedBackup[], policy: RetentionPolicy, now: Date, terminatedAt: Date | null): string[] {
  const completed = backups
    .filter((backup) => backup.status === 'COMPLETED')
    .sort((a, b) => b.created_at.getTime() - a.created_at.getTime());
  const kept = protectedBackups(completed, policy, now);
  if (terminatedAt) {
    const expired = now.getTime() - terminatedAt.getTime() > policy.keepAfterTerminationDays * DAY_MS;
    return expired
      ? backups
          .filter((backup) => (backup.status === 'COMPLETED' || backup.status === 'FAILED') && !kept.has(backup.id))
          .map((backup) => backup.id)
      : [];
  }
  for (const id of [
    ...completed.slice(0, 1).map((backup) => backup.id),
    ...newestPerPeriod(completed, dayOf, policy.keepDaily),
    ...newestPerPeriod(completed, weekOf, policy.keepWeekly),
    ...newestPerPeriod(completed, monthOf, policy.keepMonthly),
  ])
    kept.add(id);
  const failedBefore = now.getTime() - Math.max(policy.keepDaily, 1) * DAY_MS;
  return backups
    .filter(
      (backup) =>
        (backup.status === 'COMPLETED' && !kept.has(backup.id)) ||
        (backup.status === 'FAILED' && backup.created_at.getTime() < failedBefore),
    )
    .map((backup) => backup.id);
}

/**
 * The leader's retention pass at `now`: each expired backup's off-site copy and local files go, then its row, together
 * (a backup an unfinished restore reads or saves into is kept; see pruneBackup).
 */
export async function applyRetention(deps: Deps, now = new Date()): Promise<number> {
  deps.storage.assertAvailable();
  const instances = await deps.db
    .selectFrom('instances')
    .select(['id', 'status', 'status_changed_at'])
    .where((eb) => eb.exists(eb.selectFrom('backups').select('backups.id').whereRef('backups.instance_id', '=', 'instances.id')))
    .execute();
  const inUse = new Set(
    (
      await deps.db
        .selectFrom('restores')
        .select(['backup_id', 'final_backup_id'])
        .where('status', 'not in', ['COMPLETED', 'FAILED'])
        .execute()
    ).flatMap((restore) => [restore.backup_id, restore.final_backup_id]),
  );
  let pruned = 0;
  for (const instance of instances) {
    const backups = await deps.db
      .selectFrom('backups')
      .select(['id', 'kind', 'status', 'created_at'])
      .where('instance_id', '=', instance.id)
      .execute();
    const terminatedAt = instance.status === 'TERMINATED' ? instance.status_changed_at : null;
    for (const id of expiredBackups(backups, deps.config.backups, now, terminatedAt).filter((id) => !inUse.has(id))) {
      if (!(await pruneBackup(deps, instance.id, id))) continue;
      deps.log.info({ event: 'backup.pruned', instanceId: instance.id, backupId: id }, 'expired backup deleted');
      pruned += 1;
    }
  }
  return pruned;
}
