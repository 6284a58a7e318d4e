import { createHash } from 'node:crypto';
import type { Deps } from '../deps.js';
import { applyRetention } from '../domain/backups/backup-retention.js';
import { removeEndedJobs, removeOrphanJobContainers, removeOrphanJobSecrets } from '../domain/backups/backup-jobs.js';
import { advanceBackups } from '../domain/backups/backups.js';
import { pruneLocalCopies } from '../domain/offsite/offsite-retention.js';
import type { OffsiteUploads } from '../domain/offsite/offsite-uploads.js';
import { advanceModuleChanges } from '../domain/modules/module-changes.js';
import { advanceRollouts } from '../domain/modules/rollouts.js';
import { advanceRestores } from '../domain/backups/restores.js';
import type { Job } from './scheduler.js';
import { statusesWhere } from '../domain/instances/instance-policy.js';

const SCHEDULE_SLICE = 1000;

/** Pure: an instance's own offset into the spread window, the same at every run, so tenants do not all start at once. */
export function spreadOffsetSeconds(instanceId: string, spreadSeconds: number): number {
  if (spreadSeconds <= 0) return 0;
  return createHash('sha256').update(instanceId).digest().readUInt32BE(0) % spreadSeconds;
}

/** At BACKUP_CRON: a SCHEDULED backup for each live tenant, due at its offset; one already waiting or running is kept. */
export async function scheduleBackups(deps: Deps, now = new Date()): Promise<number> {
  const instances = await deps.db
    .selectFrom('instances')
    .select('id')
    .where('status', 'in', statusesWhere('backedUpOnSchedule'))
    .where('db_server_id', 'is not', null)
    .execute();
  if (instances.length === 0) return 0;
  const rows = instances.map(({ id }) => ({
    instance_id: id,
    kind: 'SCHEDULED' as const,
    status: 'PENDING' as const,
    actor: 'scheduler',
    not_before: new Date(now.getTime() + spreadOffsetSeconds(id, deps.config.backups.spreadSeconds) * 1000),
  }));
  let inserted = 0;
  // In slices: one statement has at most 65535 parameters.
  for (let start = 0; start < rows.length; start += SCHEDULE_SLICE) {
    const slice = await deps.db
      .insertInto('backups')
      .values(rows.slice(start, start + SCHEDULE_SLICE))
      .onConflict((oc) => oc.column('instance_id').where('status', 'in', ['PENDING', 'RUNNING']).doNothing())
      .returning('id')
      .execute();
    inserted += slice.length;
  }
  deps.log.info({ event: 'backup.scheduled', count: inserted }, 'scheduled backups recorded');
  return inserted;
}

const SWEEP_EVERY_MS = 60_000;
let lastSweep = 0;

/**
 * Backups, restores, module changes and rollouts in flight, one step each: how a restarted daemon finishes or fails them from the rows. A backup
 * that completed goes off-site in the same tick; failed uploads whose wait is over start again.
 */
async function trackBackups(deps: Deps, uploads: OffsiteUploads): Promise<void> {
  await advanceBackups(deps);
  await uploads.runDue(deps);
  await advanceRestores(deps);
  await advanceModuleChanges(deps);
  await advanceRollouts(deps);
  if (Date.now() - lastSweep >= SWEEP_EVERY_MS) {
    lastSweep = Date.now();
    await removeEndedJobs(deps);
    await removeOrphanJobSecrets(deps);
    await removeOrphanJobContainers(deps);
  }
}

export const BACKUP_TRACKING = 'backup-tracking';
export const backupTrackingJob = (schedule: string, uploads: OffsiteUploads): Job => ({
  name: BACKUP_TRACKING,
  schedule,
  run: (deps) => trackBackups(deps, uploads),
});
export const backupScheduleJob = (schedule: string): Job => ({
  name: 'backup-schedule',
  schedule,
  run: (deps) => scheduleBackups(deps).then(() => undefined),
});
export const backupRetentionJob = (schedule: string): Job => ({
  name: 'backup-retention',
  schedule,
  run: async (deps) => {
    await applyRetention(deps);
    await pruneLocalCopies(deps);
  },
});
