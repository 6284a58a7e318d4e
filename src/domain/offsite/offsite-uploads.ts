import { sql } from 'kysely';
import type { BackupRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { deleteOffsiteCopy, offsitePrefix, type OffsiteStore } from '../../s3/offsite-store.js';
import { isSuperseded, LocalCopyUnusable, uploadBackup } from './offsite-upload.js';

/**
 * Uploads under way at once on the leader. One: it keeps up to four 8 MiB parts in memory (about 50 MiB at its
 * peak, in a 512 MB container), and its parts in flight already keep the link busy; backups queue behind it.
 */
const CONCURRENT_UPLOADS = 1;

/** Pure: how long a failed upload waits, doubling from `baseSeconds` with each failure, never more than `maxSeconds`. */
export const uploadRetrySeconds = (failures: number, baseSeconds: number, maxSeconds: number): number =>
  Math.min(maxSeconds, baseSeconds * 2 ** Math.min(Math.max(failures - 1, 0), 30));

/** The leader's uploads: started by its scheduler tick, aborted when it stops leading (the next leader resumes them). */
export interface OffsiteUploads {
  /** Starts the uploads that are due, up to the limit, and returns without waiting for them. */
  runDue: (deps: Deps) => Promise<void>;
  /** Aborts the uploads under way and waits until they stopped; their rows stay UPLOADING, resumed from the rows. */
  stop: () => Promise<void>;
}

export function createOffsiteUploads(): OffsiteUploads {
  let controller = new AbortController();
  const running = new Map<string, Promise<void>>();
  return {
    runDue: async (deps) => {
      const store = deps.offsite;
      if (!store || running.size >= CONCURRENT_UPLOADS) return;
      const due = await deps.db
        .selectFrom('backups')
        .selectAll()
        .where('offsite_status', 'in', ['PENDING', 'UPLOADING'])
        .where('offsite_next_attempt_at', '<=', sql<Date>`now()`)
        .where('status', '=', 'COMPLETED')
        .orderBy('offsite_next_attempt_at')
        .limit(CONCURRENT_UPLOADS + running.size)
        .execute();
      for (const backup of due) {
        if (running.size >= CONCURRENT_UPLOADS) break;
        if (running.has(backup.id)) continue;
        const work = upload({ ...deps, offsite: store }, backup, controller.signal).finally(() => running.delete(backup.id));
        running.set(backup.id, work);
      }
    },
    stop: async () => {
      controller.abort();
      await Promise.allSettled(running.values());
      controller = new AbortController();
    },
  };
}

type UploadRunDeps = Deps & { offsite: OffsiteStore };

/** One backup's upload, start to end; every outcome is recorded on its row, nothing is thrown. */
async function upload(deps: UploadRunDeps, backup: BackupRow, signal: AbortSignal): Promise<void> {
  const started = Date.now();
  const claimed = await deps.db
    .updateTable('backups')
    .set({
      offsite_status: 'UPLOADING',
      offsite_key: sql`coalesce(offsite_key, ${offsitePrefix(deps.offsite, backup)})`,
      updated_at: sql`now()`,
    })
    .where('id', '=', backup.id)
    .where('status', '=', 'COMPLETED')
    .where('offsite_status', 'in', ['PENDING', 'UPLOADING'])
    .returningAll()
    .executeTakeFirst()
    .catch((error: Error) => {
      deps.log.warn(
        { event: 'offsite.claim_failed', backupId: backup.id, reason: error.message },
        'could not start an upload; tried again',
      );
      return undefined;
    });
  if (!claimed) return;
  const log = { instanceId: claimed.instance_id, backupId: claimed.id, key: claimed.offsite_key };
  try {
    await uploadBackup(deps, claimed, signal);
    deps.metrics.offsiteUploads.inc({ outcome: 'completed' });
    deps.log.info({ event: 'offsite.uploaded', ...log, seconds: (Date.now() - started) / 1000 }, 'backup uploaded off-site');
  } catch (error) {
    // The leader is stopping: the row stays UPLOADING, and whoever leads next resumes it.
    if (signal.aborted) return deps.log.info({ event: 'offsite.upload_paused', ...log }, 'upload paused; resumed by the next leader');
    await recordFailure(deps, claimed, error as Error).catch((recording: Error) =>
      deps.log.warn({ event: 'offsite.record_failed', ...log, reason: recording.message }, 'upload outcome not recorded; tried again'),
    );
  }
}

async function recordFailure(deps: UploadRunDeps, backup: BackupRow, error: Error): Promise<void> {
  const log = { instanceId: backup.instance_id, backupId: backup.id, key: backup.offsite_key };
  if (isSuperseded(error)) {
    // Retention removed the backup while it was uploaded: what this upload wrote goes too.
    const row = await deps.db.selectFrom('backups').select('id').where('id', '=', backup.id).executeTakeFirst();
    if (!row) await deleteOffsiteCopy(deps.offsite, backup);
    return;
  }
  if (error instanceof LocalCopyUnusable) {
    deps.metrics.offsiteUploads.inc({ outcome: 'abandoned' });
    deps.log.error({ event: 'offsite.upload_abandoned', ...log, reason: error.message }, 'backup cannot be uploaded');
    await deps.db
      .updateTable('backups')
      .set({ offsite_status: 'FAILED', offsite_error: error.message, offsite_next_attempt_at: null, updated_at: sql`now()` })
      .where('id', '=', backup.id)
      .execute();
    return;
  }
  const attempts = backup.offsite_attempts + 1;
  const retryInSeconds = uploadRetrySeconds(attempts, deps.config.offsite.retryBaseSeconds, deps.config.offsite.retryMaxSeconds);
  deps.metrics.offsiteUploads.inc({ outcome: 'failed' });
  deps.log.warn(
    { event: 'offsite.upload_failed', ...log, attempts, retryInSeconds, reason: error.message },
    'upload failed; tried again later',
  );
  await deps.db
    .updateTable('backups')
    .set({
      offsite_status: 'PENDING',
      offsite_attempts: attempts,
      offsite_error: error.message,
      offsite_next_attempt_at: sql`now() + make_interval(secs => ${retryInSeconds})`,
      updated_at: sql`now()`,
    })
    .where('id', '=', backup.id)
    .where('offsite_status', '=', 'UPLOADING')
    .execute();
}
