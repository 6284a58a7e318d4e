import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import type { BackupKind, BackupRow, InstanceRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { DomainError, notFound } from '../../errors.js';
import { backupDir, backupJobSpec, instanceBackupsDir, MANIFEST_FILE, needsOverlay } from '../../swarm/backup-job.js';
import { assertStorageHeadroom, limitCustomer } from './backup-limits.js';
import { failureWithLog, jobTasks, judgeJob, poolReach, removeJobAndSecret, startJob } from './backup-jobs.js';
import { recordEvent, type Trigger } from '../instances/instance-events.js';
import { removeSnapshot } from '../../storage/cephfs.js';
import { ensureDirUnder } from '../../storage/dirs.js';
import { backupSnapshotName, instanceDataDir } from '../../storage/layout.js';
import { isUuid, tenantDatabaseName, tenantRoleName } from '../names.js';
import { prepareDataDir } from '../instances/tenant-storage.js';
import { allows } from '../instances/instance-policy.js';

/** What a backup's manifest.json says about it: Odoo's own manifest's fields (absent from older backups) and the files. */
export interface BackupManifest {
  db_name?: string;
  version?: string;
  version_info?: (number | string)[];
  major_version?: string;
  pg_version?: string;
  modules?: Record<string, string>;
  odooVersion: string;
  databaseName: string;
  postgresVersion: string;
  files: { name: string; size: number; sha256: string }[];
}

const MANUAL_PER_CUSTOMER_SECONDS = 3600;

export const backupJobName = (backupId: string) => `bk-${backupId}`;

export async function getBackup(deps: Pick<Deps, 'db'>, id: string): Promise<BackupRow> {
  const backup = isUuid(id) ? await deps.db.selectFrom('backups').selectAll().where('id', '=', id).executeTakeFirst() : undefined;
  if (!backup) throw notFound('Backup', id);
  return backup;
}

/** Oldest first. */
export const listBackups = (deps: Pick<Deps, 'db'>, instanceId: string): Promise<BackupRow[]> =>
  deps.db.selectFrom('backups').selectAll().where('instance_id', '=', instanceId).orderBy('created_at').orderBy('id').execute();

/** The backup's manifest; the job wrote it as the tenant's uid, so a link in its place is not followed. */
export async function readManifest(
  deps: Pick<Deps, 'config' | 'storage'>,
  backup: Pick<BackupRow, 'id' | 'instance_id'>,
): Promise<BackupManifest> {
  deps.storage.assertAvailable();
  const file = await open(
    `${backupDir(deps.config.cephfsRoot, backup.instance_id, backup.id)}/${MANIFEST_FILE}`,
    constants.O_RDONLY | constants.O_NOFOLLOW,
  );
  try {
    return JSON.parse(await file.readFile('utf8')) as BackupManifest;
  } finally {
    await file.close();
  }
}

/**
 * Backs the instance up now (MANUAL) or records a scheduled or final backup. One backup per instance at a time: asking
 * while one is under way returns it (a scheduled one still waiting for its slot is started at once instead). A customer
 * may ask for one manual backup an hour.
 */
export async function backupInstance(deps: Deps, instanceId: string, trigger: Trigger, kind: BackupKind = 'MANUAL'): Promise<BackupRow> {
  if (!isUuid(instanceId)) throw notFound('Instance', instanceId);
  const instance = await deps.db.selectFrom('instances').selectAll().where('id', '=', instanceId).executeTakeFirst();
  if (!instance) throw notFound('Instance', instanceId);
  if (kind !== 'FINAL' && !allows('backupable', instance.status)) {
    throw new DomainError('CONFLICT', `Instance ${instanceId} is ${instance.status}: it has no database to back up now.`);
  }
  if (kind === 'MANUAL' && trigger.actor.startsWith('customer:')) {
    await limitCustomerBackups(deps, instanceId);
    await limitCustomer(deps, trigger.actor, instanceId, 'backup');
  }
  deps.storage.assertAvailable();
  if (kind === 'MANUAL') await assertStorageHeadroom(deps, instanceId);

  const active = await activeBackup(deps, instanceId);
  if (active)
    return active.status === 'PENDING' && active.kind === 'SCHEDULED' && kind !== 'SCHEDULED'
      ? takeOver(deps, active, kind, trigger)
      : active;
  const inserted = await deps.db
    .insertInto('backups')
    .values({ instance_id: instanceId, kind, status: 'PENDING', actor: trigger.actor })
    .onConflict((oc) => oc.column('instance_id').where('status', 'in', ['PENDING', 'RUNNING']).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!inserted) return (await activeBackup(deps, instanceId)) ?? backupInstance(deps, instanceId, trigger, kind);
  await recordEvent(deps, deps.db, instanceId, trigger, `${kind.toLowerCase()} backup ${inserted.id} requested`);
  deps.log.info({ event: 'backup.requested', instanceId, backupId: inserted.id, kind, actor: trigger.actor }, 'backup requested');
  return startBackup(deps, inserted, instance);
}

const activeBackup = (deps: Pick<Deps, 'db'>, instanceId: string) =>
  deps.db
    .selectFrom('backups')
    .selectAll()
    .where('instance_id', '=', instanceId)
    .where('status', 'in', ['PENDING', 'RUNNING'])
    .executeTakeFirst();

async function takeOver(deps: Deps, scheduled: BackupRow, kind: BackupKind, trigger: Trigger): Promise<BackupRow> {
  const taken = await deps.db
    .updateTable('backups')
    .set({ kind, actor: trigger.actor, not_before: sql`now()`, updated_at: sql`now()` })
    .where('id', '=', scheduled.id)
    .where('status', '=', 'PENDING')
    .returningAll()
    .executeTakeFirst();
  return taken ? startBackup(deps, taken) : getBackup(deps, scheduled.id);
}

async function limitCustomerBackups(deps: Pick<Deps, 'db'>, instanceId: string): Promise<void> {
  const last = await deps.db
    .selectFrom('backups')
    .select('created_at')
    .where('instance_id', '=', instanceId)
    .where('kind', '=', 'MANUAL')
    .where('actor', 'like', 'customer:%')
    .where('created_at', '>', sql<Date>`now() - make_interval(secs => ${MANUAL_PER_CUSTOMER_SECONDS})`)
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  if (last) {
    const next = new Date(last.created_at.getTime() + MANUAL_PER_CUSTOMER_SECONDS * 1000);
    throw new DomainError('CONFLICT', `One manual backup an hour: the next one can be made from ${next.toISOString()}.`);
  }
}

/** Starts a PENDING backup's job (or finds the one an earlier try made) and marks it RUNNING. */
export async function startBackup(deps: Deps, backup: BackupRow, known?: InstanceRow): Promise<BackupRow> {
  if (backup.status !== 'PENDING') return backup;
  const instance =
    known ?? (await deps.db.selectFrom('instances').selectAll().where('id', '=', backup.instance_id).executeTakeFirstOrThrow());
  // A scheduled backup that waited while its instance was terminated (or is being restored) has nothing to back up.
  if (backup.kind !== 'FINAL' && !allows('backupable', instance.status))
    return finishBackup(deps, backup, { status: 'FAILED', error: `the instance is ${instance.status}` });
  // Storage away: it waits (PENDING) for the next tick rather than failing.
  if (deps.storage.health().status !== 'ok') return backup;
  if (backup.kind === 'SCHEDULED') {
    const full = await assertStorageHeadroom(deps, instance.id).then(
      () => null,
      (error: Error) => error.message,
    );
    if (full) return finishBackup(deps, backup, { status: 'FAILED', error: full });
  }
  const name = backupJobName(backup.id);
  try {
    const [pool] = await Promise.all([
      poolReach(deps, instance, name),
      // The job runs as the tenant's uid: the instance's backups directory is its to write (and no other tenant's).
      prepareDataDir(deps, instance).then(() =>
        ensureDirUnder(
          deps.storage.root,
          instanceBackupsDir(deps.storage.root, instance.id),
          deps.config.odooUid,
          deps.config.odooUid,
          0o700,
        ),
      ),
    ]);
    const serviceId = await startJob(
      deps,
      backupJobSpec({
        name,
        instanceId: instance.id,
        backupId: backup.id,
        image: deps.config.postgresPoolImage,
        network: needsOverlay(pool.host) ? deps.config.swarmNetwork : null,
        cephfsRoot: deps.config.cephfsRoot,
        uid: deps.config.odooUid,
        extraLabels: deps.config.dockerLabels,
        odooVersion: instance.odoo_version,
        snapshot: deps.storage.mode === 'ceph' ? backupSnapshotName(backup.id) : null,
        db: { name: tenantDatabaseName(instance.id), role: tenantRoleName(instance.id) },
        pool,
      }),
    );
    const running = await deps.db
      .updateTable('backups')
      .set({ status: 'RUNNING', job_service_id: serviceId, started_at: sql`now()`, updated_at: sql`now()` })
      .where('id', '=', backup.id)
      .where('status', '=', 'PENDING')
      .returningAll()
      .executeTakeFirst();
    return running ?? getBackup(deps, backup.id);
  } catch (error) {
    return finishBackup(deps, backup, { status: 'FAILED', error: `could not start the backup job: ${(error as Error).message}` });
  }
}

/** Follows a RUNNING backup's job: COMPLETED once it wrote its manifest, FAILED otherwise. Safe to call from anywhere. */
export async function advanceBackup(deps: Deps, backup: BackupRow, now = new Date()): Promise<BackupRow> {
  if (backup.status === 'PENDING') return backup.not_before <= now ? startBackup(deps, backup) : backup;
  if (backup.status !== 'RUNNING') return backup;
  const tasks = await jobTasks(deps, backupJobName(backup.id));
  const deadline = new Date((backup.started_at ?? backup.created_at).getTime() + deps.config.backups.jobDeadlineSeconds * 1000);
  const verdict =
    tasks === null
      ? ({ kind: 'failed', reason: 'the backup job was removed before it finished', taskId: null } as const)
      : judgeJob(tasks, deadline, now);
  if (verdict.kind === 'pending') return backup;
  if (verdict.kind === 'failed') return finishBackup(deps, backup, { status: 'FAILED', error: await failureWithLog(deps, verdict) });
  try {
    const manifest = await readManifest(deps, backup);
    const size = manifest.files.reduce((total, file) => total + file.size, 0);
    return await finishBackup(deps, backup, { status: 'COMPLETED', size });
  } catch (error) {
    return finishBackup(deps, backup, {
      status: 'FAILED',
      error: `the job ended without a readable manifest (${(error as Error).message})`,
    });
  }
}

type Ending = { status: 'COMPLETED'; size: number } | { status: 'FAILED'; error: string };

async function finishBackup(deps: Deps, backup: BackupRow, ending: Ending): Promise<BackupRow> {
  const finished = await deps.db
    .updateTable('backups')
    .set({
      status: ending.status,
      size_bytes: ending.status === 'COMPLETED' ? ending.size : null,
      error: ending.status === 'FAILED' ? ending.error : null,
      finished_at: sql`now()`,
      updated_at: sql`now()`,
      // Every completed backup is also uploaded off-site when a destination is configured (from the tick that saw it complete).
      ...(ending.status === 'COMPLETED' && deps.offsite
        ? { offsite_status: 'PENDING' as const, offsite_next_attempt_at: sql<Date>`now()` }
        : {}),
    })
    .where('id', '=', backup.id)
    .where('status', 'in', ['PENDING', 'RUNNING'])
    .returningAll()
    .executeTakeFirst();
  await removeJobAndSecret(deps, backupJobName(backup.id));
  // The job removes its snapshot once the archive is written; one that failed before may have left it.
  await removeSnapshot(instanceDataDir(deps.storage.root, backup.instance_id), backupSnapshotName(backup.id)).catch((error: Error) =>
    deps.log.warn({ event: 'backup.snapshot_left', backupId: backup.id, reason: error.message }, 'backup snapshot not removed'),
  );
  if (!finished) return getBackup(deps, backup.id);
  if (ending.status === 'FAILED') {
    await rm(`${instanceBackupsDir(deps.config.cephfsRoot, backup.instance_id)}/.partial-${backup.id}`, { recursive: true, force: true });
    deps.metrics.backupFailures.inc({ kind: backup.kind });
    deps.log.warn(
      { event: 'backup.failed', instanceId: backup.instance_id, backupId: backup.id, kind: backup.kind, error: ending.error },
      'backup failed',
    );
  } else {
    deps.log.info(
      { event: 'backup.completed', instanceId: backup.instance_id, backupId: backup.id, kind: backup.kind, sizeBytes: ending.size },
      'backup completed',
    );
  }
  await recordEvent(
    deps,
    deps.db,
    backup.instance_id,
    { cause: 'backup', actor: 'scheduler' },
    `${backup.kind.toLowerCase()} backup ${backup.id} ${ending.status.toLowerCase()}${ending.status === 'FAILED' ? `: ${ending.error}` : ''}`,
  );
  return finished;
}

/** Advances the backup until it ends or `timeoutMs` passes; returns the row as it then is. */
export async function waitForBackup(deps: Deps, backupId: string, timeoutMs: number): Promise<BackupRow> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const backup = await advanceBackup(deps, await getBackup(deps, backupId));
    if (backup.status === 'COMPLETED' || backup.status === 'FAILED' || Date.now() >= deadline) return backup;
    await sleep(Math.min(500, Math.max(0, deadline - Date.now())));
  }
}

/** Every backup in flight, advanced one step: the leader's tick, so a restarted daemon finishes or fails them from the rows. */
export async function advanceBackups(deps: Deps, now = new Date()): Promise<void> {
  const inFlight = await deps.db
    .selectFrom('backups')
    .selectAll()
    .where('status', 'in', ['PENDING', 'RUNNING'])
    .orderBy('not_before')
    .execute();
  let running = inFlight.filter((backup) => backup.status === 'RUNNING').length;
  for (const backup of inFlight) {
    // Scheduled backups wait for a free slot; manual and final ones never wait.
    if (backup.status === 'PENDING' && backup.kind === 'SCHEDULED' && running >= deps.config.backups.maxConcurrent) continue;
    const advanced = await advanceBackup(deps, backup, now).catch((error: unknown) => {
      deps.log.warn(
        { event: 'backup.advance_failed', backupId: backup.id, err: error },
        'could not advance a backup; tried again next run',
      );
      return backup;
    });
    if (backup.status === 'PENDING' && advanced.status === 'RUNNING') running += 1;
  }
}
