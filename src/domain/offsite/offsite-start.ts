import { sql } from 'kysely';
import type { Deps } from '../../deps.js';
import { checkBucket } from '../../s3/bucket.js';
import { describeDestination } from '../../s3/offsite-store.js';

/** What /readyz says of off-site storage when none is configured. */
export const NOT_CONFIGURED = 'not configured: backups stay local only';

/**
 * At start: one line saying where backups also go (or that they stay local only), and every completed backup not
 * yet meant for the destination is queued for upload (backups made before it was configured).
 */
export async function announceOffsite(deps: Pick<Deps, 'config' | 'db' | 'log' | 'offsite'>): Promise<void> {
  if (!deps.offsite) {
    deps.log.warn({ event: 'offsite.not_configured' }, `no off-site destination (BACKUP_S3_BUCKET unset): backups stay local only`);
    return;
  }
  const queued = await deps.db
    .updateTable('backups')
    .set({ offsite_status: 'PENDING', offsite_next_attempt_at: sql`now()` })
    .where('status', '=', 'COMPLETED')
    .where('offsite_status', 'is', null)
    .executeTakeFirst();
  deps.log.info(
    {
      event: 'offsite.configured',
      destination: describeDestination(deps.config.offsite),
      keyId: deps.offsite.current.id,
      previousKeyId: deps.offsite.keyring[1]?.id ?? null,
      queued: Number(queued.numUpdatedRows),
    },
    `backups are also uploaded, encrypted, to ${describeDestination(deps.config.offsite)}`,
  );
}

/** /readyz's look at the destination: the bucket answers, or why not. */
export const offsiteReadiness = async (deps: Pick<Deps, 'offsite'>): Promise<void> => {
  if (deps.offsite) await checkBucket(deps.offsite.bucket);
};
