import { rm, stat } from 'node:fs/promises';
import type { Deps } from '../../deps.js';
import { withTransaction } from '../../db/transaction.js';
import { backupDir } from '../../swarm/backup-job.js';
import { deleteOffsiteCopy } from '../../s3/offsite-store.js';

const DAY_MS = 24 * 3600 * 1000;
/** A local copy fetched back from off-site storage (or just made) stays at least this long: a restore or download reads it. */
const LOCAL_GRACE_MS = 3600 * 1000;

/**
 * Removes an expired backup everywhere: its off-site objects, its local files, then its row, with the row locked (an
 * upload starting meanwhile finds it gone). One being uploaded is left to the next pass; so is one whose off-site
 * copy cannot be removed now (the bucket is away): nothing is left behind without its row.
 */
export async function pruneBackup(deps: Deps, instanceId: string, backupId: string): Promise<boolean> {
  try {
    return await withTransaction(deps.db, async (trx) => {
      const backup = await trx
        .selectFrom('backups')
        .selectAll()
        .where('id', '=', backupId)
        .where('status', 'in', ['COMPLETED', 'FAILED'])
        .where((eb) => eb.or([eb('offsite_status', 'is', null), eb('offsite_status', '!=', 'UPLOADING')]))
        .forUpdate()
        .skipLocked()
        .executeTakeFirst();
      if (!backup) return false;
      if (deps.offsite) await deleteOffsiteCopy(deps.offsite, backup);
      else if (backup.offsite_key)
        deps.log.warn(
          { event: 'backup.offsite_left', instanceId, backupId, key: backup.offsite_key },
          'expired backup has an off-site copy, and no destination is configured to remove it from',
        );
      await rm(backupDir(deps.config.cephfsRoot, instanceId, backupId), { recursive: true, force: true });
      await trx.deleteFrom('backups').where('id', '=', backupId).execute();
      return true;
    });
  } catch (error) {
    deps.log.warn(
      { event: 'backup.prune_failed', instanceId, backupId, reason: (error as Error).message },
      'expired backup kept; tried again',
    );
    return false;
  }
}

/**
 * BACKUP_KEEP_LOCAL_DAYS: the local copies of backups older than that whose off-site copy is complete go; their rows
 * and off-site copies stay (a restore or a download fetches them back). None that a restore under way reads.
 */
export async function pruneLocalCopies(deps: Pick<Deps, 'db' | 'config' | 'log'>, now = new Date()): Promise<number> {
  const days = deps.config.offsite.keepLocalDays;
  if (days === null) return 0;
  const candidates = await deps.db
    .selectFrom('backups')
    .select(['id', 'instance_id'])
    .where('status', '=', 'COMPLETED')
    .where('offsite_status', '=', 'COMPLETED')
    .where('created_at', '<', new Date(now.getTime() - days * DAY_MS))
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('restores')
            .select('restores.id')
            .whereRef('restores.backup_id', '=', 'backups.id')
            .where('restores.status', 'not in', ['COMPLETED', 'FAILED']),
        ),
      ),
    )
    .execute();
  let pruned = 0;
  for (const backup of candidates) {
    const dir = backupDir(deps.config.cephfsRoot, backup.instance_id, backup.id);
    const found = await stat(dir).catch(() => null);
    if (!found || now.getTime() - found.mtimeMs < LOCAL_GRACE_MS) continue;
    await rm(dir, { recursive: true, force: true });
    deps.log.info(
      { event: 'backup.local_pruned', instanceId: backup.instance_id, backupId: backup.id },
      'local copy removed; kept off-site',
    );
    pruned += 1;
  }
  return pruned;
}
