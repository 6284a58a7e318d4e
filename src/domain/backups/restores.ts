import { sql, type Transaction } from 'kysely';
import type { BackupRow, Database, InstanceRow, RestoreRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { DomainError, notFound, validationFailed } from '../../errors.js';
import { DUMP_FILE, FILESTORE_FILE, needsOverlay, restoreJobSpec } from '../../swarm/backup-job.js';
import { instanceDataDir } from '../../storage/layout.js';
import { liveTasks, scaleService } from '../../swarm/swarm.js';
import { finalBackupSince, isCompletedFinal } from './backup-final.js';
import { assertStorageHeadroom, limitCustomer } from './backup-limits.js';
import { failureWithLog, jobTasks, judgeJob, poolReach, removeJobAndSecret, startJob } from './backup-jobs.js';
import { getBackup, type BackupManifest } from './backups.js';
import { moveInstance, recordEvent, type Trigger } from '../instances/instance-events.js';
import { canMove } from '../instances/instance-status.js';
import { intactLocalManifest, pollFetch, usableCopy } from '../offsite/offsite-copies.js';
import { provisionInstance } from '../instances/provisioning.js';
import { isUuid, tenantDatabaseName, tenantMaintenanceRoleName, tenantRoleName } from '../names.js';
import type { AdminClient } from '../../db/pool-server.js';
import { poolOfInstance } from '../pools/pools.js';
import { createLoadTarget, dropLoadTarget, dropReplaced, swapIn, swapNames } from './restore-swap.js';
import { withTransaction } from '../../db/transaction.js';
import { applyQuota, prepareDataDir } from '../instances/tenant-storage.js';
import { renewDatabaseIdentity } from '../templates/clone-identity.js';
import { withTenantDatabase } from '../instances/tenant-database.js';
import { runServer } from '../instances/odoo-services.js';
import { allows } from '../instances/instance-policy.js';
import { conditionsWith } from '../instances/instance-conditions.js';

export const restoreJobName = (restoreId: string) => `rs-${restoreId}`;

const onlyCompleted = (backup: BackupRow) => {
  if (backup.status !== 'COMPLETED')
    throw new DomainError('CONFLICT', `Backup ${backup.id} is ${backup.status}: only a COMPLETED backup can be restored.`);
};

/** The backup's local manifest, after checking its files are all there with the sizes it gives (their sha256 the job checks). */
async function intactManifest(deps: Pick<Deps, 'config' | 'storage'>, backup: BackupRow): Promise<BackupManifest> {
  onlyCompleted(backup);
  const manifest = await intactLocalManifest(deps, backup);
  if (!manifest) throw new DomainError('CONFLICT', `Backup ${backup.id} is damaged or incomplete: its files do not match its manifest.`);
  return manifest;
}

/** Where a restore reads the backup from: its local copy when intact, else its off-site copy, fetched first. */
async function sourceOf(deps: Pick<Deps, 'config' | 'log' | 'offsite' | 'storage'>, backup: BackupRow): Promise<'local' | 'offsite'> {
  onlyCompleted(backup);
  return usableCopy(deps, backup);
}

/**
 * Replaces the instance's database and filestore with the backup's: the tenant is stopped (RESTORING), a FINAL backup
 * of what is replaced is taken, the backup is checked and loaded beside the tenant's data, and swapped in by rename
 * (keeping the database name, role and data directory). Then the tenant runs again. If anything fails, it comes back
 * with the data it had. Asking again while it runs returns the instance as it is.
 */
export async function restoreInstance(deps: Deps, instanceId: string, backupId: string, trigger: Trigger): Promise<InstanceRow> {
  if (!isUuid(instanceId)) throw notFound('Instance', instanceId);
  const backup = await getBackup(deps, backupId);
  if (backup.instance_id !== instanceId)
    throw validationFailed(
      'backupId',
      'must be a backup of this instance (createInstance with fromBackupId starts a new one from another)',
    );
  // A backup only off-site is fetched (and verified) before the tenant is touched.
  const fetch = (await sourceOf(deps, backup)) === 'offsite';
  const restore = await withTransaction(deps.db, async (trx) => {
    const instance = await trx.selectFrom('instances').selectAll().where('id', '=', instanceId).forUpdate().executeTakeFirst();
    if (!instance) throw notFound('Instance', instanceId);
    const active = await trx
      .selectFrom('restores')
      .selectAll()
      .where('instance_id', '=', instanceId)
      .where('status', 'not in', ['COMPLETED', 'FAILED'])
      .executeTakeFirst();
    if (active) {
      if (active.backup_id === backupId) return null;
      throw new DomainError('CONFLICT', `Instance ${instanceId} is being restored from backup ${active.backup_id} already.`);
    }
    if (!allows('restorable', instance.status) || !instance.service_name) {
      throw new DomainError('CONFLICT', `Instance ${instanceId} is ${instance.status} and cannot be restored now.`);
    }
    // Each restore keeps a FINAL backup of what it replaces: customers have a bounded number, and there must be room.
    await limitCustomer(deps, trigger.actor, instanceId, 'restore');
    await assertStorageHeadroom(deps, instanceId);
    const inserted = await trx
      .insertInto('restores')
      .values({
        instance_id: instanceId,
        backup_id: backupId,
        mode: 'replace',
        status: fetch ? 'FETCHING' : 'PENDING',
        actor: trigger.actor,
        previous_status: instance.status,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    if (fetch) {
      await recordEvent(
        deps,
        trx,
        instanceId,
        trigger,
        `fetching backup ${backupId} from off-site storage; the tenant runs until it is verified`,
      );
      return inserted;
    }
    await stopForRestore(deps, trx, instance, trigger, `restoring backup ${backupId}; the tenant is stopped`);
    return inserted;
  });
  if (restore) {
    deps.log.info({ event: 'restore.started', instanceId, backupId, restoreId: restore.id, actor: trigger.actor }, 'restore started');
    await advanceRestore(deps, restore.id);
  }
  return await deps.db.selectFrom('instances').selectAll().where('id', '=', instanceId).executeTakeFirstOrThrow();
}

/** The backup a new instance of `customerId` may start from: a COMPLETED backup of one of that customer's instances. */
export async function usableBackup(
  deps: Pick<Deps, 'db' | 'config' | 'log' | 'offsite' | 'storage'>,
  backupId: string,
  customerId: string,
): Promise<BackupRow> {
  const backup = isUuid(backupId)
    ? await deps.db.selectFrom('backups').selectAll().where('id', '=', backupId).executeTakeFirst()
    : undefined;
  const owner =
    backup && (await deps.db.selectFrom('instances').select('customer_id').where('id', '=', backup.instance_id).executeTakeFirst());
  if (!backup || owner?.customer_id !== customerId)
    throw validationFailed('input.fromBackupId', "must be a backup of one of the customer's instances");
  await sourceOf(deps, backup);
  return backup;
}

/** Loads a new instance from a backup before its first start; once per instance (asking again changes nothing). */
export async function loadFromBackup(deps: Deps, instanceId: string, backupId: string, trigger: Trigger): Promise<void> {
  const earlier = await deps.db
    .selectFrom('restores')
    .select('id')
    .where('instance_id', '=', instanceId)
    .where('mode', '=', 'load')
    .executeTakeFirst();
  if (earlier) return;
  const local = await intactLocalManifest(deps, await getBackup(deps, backupId));
  const inserted = await deps.db
    .insertInto('restores')
    .values({ instance_id: instanceId, backup_id: backupId, mode: 'load', status: local ? 'PENDING' : 'FETCHING', actor: trigger.actor })
    .onConflict((oc) => oc.column('instance_id').where('status', 'not in', ['COMPLETED', 'FAILED']).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!inserted) return;
  await recordEvent(
    deps,
    deps.db,
    instanceId,
    trigger,
    `loading backup ${backupId} before the first start${local ? '' : ', fetched from off-site storage first'}`,
  );
  await advanceRestore(deps, inserted.id);
}

/**
 * What follows a step once its transaction committed: the next step, the finished job's removal, provisioning after
 * a load.
 */
type Step = {
  again?: boolean;
  removeJob?: boolean;
  provision?: { instanceId: string; actor: string };
} | void;

/**
 * One step of a restore, with its row locked (a concurrent caller skips it): a restarted daemon resumes from the row.
 * (FETCHING: a backup only off-site is fetched and verified first, the tenant untouched) → PENDING → SAVING (final
 * backup of what is replaced) → LOADING (the job) → SWAPPING → COMPLETED, or FAILED with the tenant given back the
 * data it had.
 */
export async function advanceRestore(deps: Deps, restoreId: string): Promise<void> {
  // Every step touches the tenant's files, and so does undoing one: none is tried while storage is away.
  deps.storage.assertAvailable();
  const step: Step = await withTransaction(deps.db, async (trx) => {
    const restore = await trx.selectFrom('restores').selectAll().where('id', '=', restoreId).forUpdate().skipLocked().executeTakeFirst();
    if (!restore || restore.status === 'COMPLETED' || restore.status === 'FAILED') return;
    // Not FOR UPDATE: a backup started from here records events on the instance from another connection (a key share).
    const instance = await trx
      .selectFrom('instances')
      .selectAll()
      .where('id', '=', restore.instance_id)
      .forNoKeyUpdate()
      .executeTakeFirstOrThrow();
    try {
      return await stepRestore(deps, trx, restore, instance);
    } catch (error) {
      deps.log.warn({ event: 'restore.step_failed', restoreId, status: restore.status, err: error }, 'restore step failed');
      // Once swapping, the backup's data is (or is becoming) the tenant's: it rolls forward, tried again next tick.
      if (restore.status === 'SWAPPING') throw error;
      return failRestore(deps, trx, restore, instance, (error as Error).message);
    }
  });
  if (step?.again) return advanceRestore(deps, restoreId);
  if (step?.provision) {
    const { instanceId, actor } = step.provision;
    await provisionInstance(deps, instanceId, { cause: 'provisionInstance', actor }).catch(async (error: Error) => {
      deps.log.warn({ event: 'restore.provision_failed', instanceId, reason: error.message }, 'provisioning after the load failed');
      await recordEvent(
        deps,
        deps.db,
        instanceId,
        { cause: 'provisionInstance', actor },
        `provisioning after the load failed (${error.message}); call provisionInstance again`,
      );
    });
  }
  // Last: the tenant has its data back before the job's service and secret go (Swarm is slow to let go of a secret).
  if (step?.removeJob)
    await removeJobAndSecret(deps, restoreJobName(restoreId)).catch((error: Error) =>
      deps.log.warn({ event: 'restore.job_left', restoreId, reason: error.message }, 'finished restore job not removed'),
    );
}

const namesOf = (deps: Pick<Deps, 'storage'>, restore: RestoreRow) =>
  swapNames(
    {
      database: tenantDatabaseName(restore.instance_id),
      role: tenantRoleName(restore.instance_id),
      maintenanceRole: tenantMaintenanceRoleName(restore.instance_id),
    },
    restore.id,
    instanceDataDir(deps.storage.root, restore.instance_id),
  );

const setRestore = (
  trx: Transaction<Database>,
  restore: RestoreRow,
  patch: Partial<Pick<RestoreRow, 'status' | 'final_backup_id' | 'job_service_id' | 'error' | 'previous_status'>>,
) =>
  trx
    .updateTable('restores')
    .set({ ...patch, updated_at: sql`now()` })
    .where('id', '=', restore.id)
    .execute();

async function stepRestore(deps: Deps, trx: Transaction<Database>, restore: RestoreRow, instance: InstanceRow): Promise<Step> {
  // A swap under way is finished even then: half of it undone would leave the replaced data beside the tenant's.
  if (allows('ended', instance.status) && restore.status !== 'SWAPPING')
    return failRestore(deps, trx, restore, instance, 'the instance is being terminated');
  const trigger = { cause: restore.mode === 'load' ? 'loadFromBackup' : 'restoreInstance', actor: restore.actor };
  switch (restore.status) {
    case 'FETCHING':
      return afterFetch(deps, trx, restore, instance, trigger);
    case 'PENDING':
      if (restore.mode === 'replace') return setRestore(trx, restore, { status: 'SAVING' }).then(() => undefined);
      if (instance.status !== 'ALLOCATED') return;
      await moveInstance(deps, trx, instance, 'load', trigger, { message: `loading backup ${restore.backup_id}` });
      return startLoad(deps, trx, restore, instance);
    case 'SAVING': {
      // What is replaced is backed up once it no longer changes: no task of the tenant may still run.
      if ((await liveTasks(deps.docker, instance.service_name!)).length > 0) return;
      const final = await finalBackupSince(deps, instance.id, restore.created_at, trigger);
      if (final.kind === 'FINAL' && final.status === 'FAILED')
        return failRestore(deps, trx, restore, instance, `the final backup of the data it replaces failed: ${final.error}`);
      if (!isCompletedFinal(final)) return;
      await setRestore(trx, restore, { final_backup_id: final.id });
      return startLoad(deps, trx, restore, instance);
    }
    case 'LOADING': {
      const tasks = await jobTasks(deps, restoreJobName(restore.id));
      const deadline = new Date(restore.updated_at.getTime() + deps.config.backups.jobDeadlineSeconds * 1000);
      const verdict =
        tasks === null
          ? ({ kind: 'failed', reason: 'the restore job was removed before it finished', taskId: null } as const)
          : judgeJob(tasks, deadline, new Date());
      if (verdict.kind === 'pending') return;
      if (verdict.kind === 'failed') return failRestore(deps, trx, restore, instance, await failureWithLog(deps, verdict));
      // Recorded before the swap begins: a daemon stopped half-way resumes the swap, never judges the job again.
      await setRestore(trx, restore, { status: 'SWAPPING' });
      return { again: true };
    }
    case 'SWAPPING':
      return swapAndFinish(deps, trx, restore, instance);
  }
}

/** Stops the tenant whose data a restore replaces. */
async function stopForRestore(deps: Deps, trx: Transaction<Database>, instance: InstanceRow, trigger: Trigger, message: string) {
  await scaleService(deps.docker, instance.service_name!, 0);
  await moveInstance(deps, trx, instance, 'restore', trigger, {
    patch: { conditions: conditionsWith('restore', null, ['service']) },
    message,
  });
}

/** Once the fetched copy verified: a load goes on as usual; a restore in place stops the tenant, as it would have at once. */
async function afterFetch(
  deps: Deps,
  trx: Transaction<Database>,
  restore: RestoreRow,
  instance: InstanceRow,
  trigger: Trigger,
): Promise<Step> {
  const fetched = await pollFetch(
    deps,
    await getBackup(deps, restore.backup_id),
    () =>
      void advanceRestore(deps, restore.id).catch((error: Error) =>
        deps.log.warn({ event: 'restore.advance_failed', restoreId: restore.id, reason: error.message }, 'could not advance a restore'),
      ),
  );
  if (fetched.state === 'pending') return;
  if (fetched.state === 'failed') return failRestore(deps, trx, restore, instance, fetched.reason);
  if (restore.mode === 'load') return setRestore(trx, restore, { status: 'PENDING' }).then(() => ({ again: true }));
  if (!allows('restorable', instance.status) || !instance.service_name)
    return failRestore(deps, trx, restore, instance, `the instance is ${instance.status} and cannot be restored now`);
  await setRestore(trx, restore, { status: 'SAVING', previous_status: instance.status });
  await stopForRestore(
    deps,
    trx,
    instance,
    trigger,
    `restoring backup ${restore.backup_id} (fetched from off-site storage); the tenant is stopped`,
  );
  return { again: true };
}

/** On one of the daemon's kept admin connections to the instance's pool: a restore pays no login. */
async function withInstancePool<T>(deps: Deps, instance: InstanceRow, work: (client: AdminClient) => Promise<T>): Promise<T> {
  return deps.poolConnections.use(await poolOfInstance(deps.db, instance), work);
}

async function startLoad(deps: Deps, trx: Transaction<Database>, restore: RestoreRow, instance: InstanceRow): Promise<Step> {
  const backup = await getBackup(deps, restore.backup_id);
  const manifest = await intactManifest(deps, backup);
  const sha = (name: string) => manifest.files.find((file) => file.name === name)!.sha256;
  const names = namesOf(deps, restore);
  const name = restoreJobName(restore.id);
  // The backup is loaded beside what it replaces, until the swap: the quota makes room for it meanwhile. The data dir
  // comes first (nothing is made below a storage root that is not there); what the job loads into is made while Swarm
  // starts the job, which waits for it.
  const dataDir = prepareDataDir(deps, instance, manifest.files.find((file) => file.name === FILESTORE_FILE)!.size);
  const target = dataDir
    .then(() => poolOfInstance(deps.db, instance))
    .then((pool) =>
      deps.poolConnections.use(pool, (client) =>
        createLoadTarget(client, names, deps.config.odooUid, (database, work) => deps.poolConnections.inDatabase(pool, database, work)),
      ),
    );
  const job = Promise.all([poolReach(deps, instance, name), dataDir]).then(([pool]) =>
    startJob(
      deps,
      restoreJobSpec({
        name,
        instanceId: instance.id,
        image: deps.config.postgresPoolImage,
        network: needsOverlay(pool.host) ? deps.config.swarmNetwork : null,
        cephfsRoot: deps.config.cephfsRoot,
        uid: deps.config.odooUid,
        extraLabels: deps.config.dockerLabels,
        source: { instanceId: backup.instance_id, backupId: backup.id, dumpSha256: sha(DUMP_FILE), filestoreSha256: sha(FILESTORE_FILE) },
        db: { newName: names.loaded, role: names.role },
        filestoreNewDir: names.filestoreLoaded,
        pool,
      }),
    ),
  );
  // Both settled before a failure is acted on: the job is not created after the failure removed it.
  const [started, created] = await Promise.allSettled([job, target]);
  if (started.status === 'rejected') throw started.reason;
  if (created.status === 'rejected') throw created.reason;
  const serviceId = started.value;
  await setRestore(trx, restore, { status: 'LOADING', job_service_id: serviceId });
}

/**
 * Swaps the loaded data in, starts the tenant again, drops what was replaced, then records the end. Every part is
 * idempotent: a failure anywhere (a pool or Docker away for a moment) is tried again from the start at the next
 * tick, never undone (the restore rolls forward).
 */
async function swapAndFinish(deps: Deps, trx: Transaction<Database>, restore: RestoreRow, instance: InstanceRow): Promise<Step> {
  const names = namesOf(deps, restore);
  await withInstancePool(deps, instance, (client) => swapIn(client, names));
  // A new instance from a backup is a new database, as Odoo's restore of a copy makes it: its own uuid, secret and URL.
  // Before COMPLETED, so a daemon stopped here renews it again on the next try; the instance has not started yet.
  if (restore.mode === 'load')
    await withTenantDatabase(deps, instance, (client) =>
      renewDatabaseIdentity(client, `https://${instance.subdomain}.${deps.config.baseDomain}`),
    );
  // Started before the replaced data goes: dropping a database makes PostgreSQL checkpoint, which need not delay it.
  if (startsAgain(restore, instance)) await runServer(deps, { ...instance, service_name: instance.service_name! }, { replicas: 1 });
  await withInstancePool(deps, instance, (client) => dropReplaced(client, names));
  await restoreQuota(deps, instance, restore.id);
  await trx
    .updateTable('restores')
    .set({ status: 'COMPLETED', finished_at: sql`now()`, updated_at: sql`now()` })
    .where('id', '=', restore.id)
    .execute();
  deps.log.info(
    { event: 'restore.completed', instanceId: instance.id, restoreId: restore.id, backupId: restore.backup_id, mode: restore.mode },
    'restore completed',
  );
  await giveBack(deps, trx, restore, instance, `restored from backup ${restore.backup_id}`);
  const provision =
    restore.mode === 'load' && restore.provision_requested_by
      ? { instanceId: instance.id, actor: restore.provision_requested_by }
      : undefined;
  return { removeJob: true, provision };
}

/** Whether the tenant runs again after the restore: it ran before, it is still restoring, and billing did not suspend it meanwhile. */
const startsAgain = (restore: RestoreRow, instance: InstanceRow): boolean =>
  restore.mode === 'replace' && instance.status === 'RESTORING' && restore.previous_status !== 'STOPPED' && !instance.suspension_pending_at;

/** Undoes what the restore made, records why, and gives the tenant back as it was (a new instance that could not load fails). */
async function failRestore(
  deps: Deps,
  trx: Transaction<Database>,
  restore: RestoreRow,
  instance: InstanceRow,
  reason: string,
): Promise<Step> {
  await removeJobAndSecret(deps, restoreJobName(restore.id));
  if (instance.db_server_id) await withInstancePool(deps, instance, (client) => dropLoadTarget(client, namesOf(deps, restore)));
  await restoreQuota(deps, instance, restore.id);
  await trx
    .updateTable('restores')
    .set({ status: 'FAILED', error: reason, finished_at: sql`now()`, updated_at: sql`now()` })
    .where('id', '=', restore.id)
    .execute();
  deps.log.warn(
    { event: 'restore.failed', instanceId: instance.id, restoreId: restore.id, backupId: restore.backup_id, reason },
    'restore failed; the tenant keeps its data',
  );
  const trigger = { cause: restore.mode === 'load' ? 'loadFromBackup' : 'restoreInstance', actor: restore.actor };
  // A refused fetch touched nothing: the event says why the restore did not happen.
  if (restore.status === 'FETCHING')
    await recordEvent(deps, trx, instance.id, trigger, `restore from backup ${restore.backup_id} refused: ${reason}`);
  if (
    restore.mode === 'load' &&
    (instance.status === 'RESTORING' || (restore.status === 'FETCHING' && canMove('failLoad', instance.status)))
  ) {
    await moveInstance(deps, trx, instance, 'failLoad', trigger, {
      patch: { conditions: conditionsWith('restore', `loading backup ${restore.backup_id} failed: ${reason}`) },
      message: reason,
    });
  } else if (restore.mode === 'replace') {
    await giveBack(deps, trx, restore, instance, `restore from backup ${restore.backup_id} failed; the data it had is kept: ${reason}`);
  }
}

/**
 * The tenant after a restore: running again (or stopped, as it was); suspended when billing asked for it meanwhile;
 * a loaded new instance waits for provisioning.
 */
async function giveBack(
  deps: Deps,
  trx: Transaction<Database>,
  restore: RestoreRow,
  instance: InstanceRow,
  message: string,
): Promise<void> {
  if (instance.status !== 'RESTORING') return;
  const trigger = { cause: restore.mode === 'load' ? 'loadFromBackup' : 'restoreInstance', actor: restore.actor };
  if (restore.mode === 'load') {
    // The backup's database was initialised by the tenant it came from: its first start needs no init job.
    await moveInstance(deps, trx, instance, 'loaded', trigger, { message, patch: { initialized_at: new Date() } });
  } else if (instance.suspension_pending_at) {
    await moveInstance(deps, trx, instance, 'giveBackSuspended', trigger, {
      message: `${message}; suspended as billing asked during the restore`,
      patch: { suspension_pending_at: null, desired: 'suspended' },
    });
  } else if (restore.previous_status === 'STOPPED') {
    await moveInstance(deps, trx, instance, 'giveBackStopped', trigger, { message });
  } else {
    await runServer(deps, { ...instance, service_name: instance.service_name! }, { replicas: 1 });
    await moveInstance(deps, trx, instance, 'giveBackRunning', trigger, { message });
  }
}

/** The data dir's quota back to the instance's limit, once the loaded copy or the replaced one is gone. */
async function restoreQuota(deps: Deps, instance: InstanceRow, restoreId: string): Promise<void> {
  await applyQuota(deps, instance).catch((error: Error) =>
    deps.log.warn(
      { event: 'restore.quota_left', restoreId, instanceId: instance.id, reason: error.message },
      'quota not set back; the usage job sets it back',
    ),
  );
}

/** Every restore in flight, one step each: the leader's tick. */
export async function advanceRestores(deps: Deps): Promise<void> {
  const inFlight = await deps.db
    .selectFrom('restores')
    .select('id')
    .where('status', 'not in', ['COMPLETED', 'FAILED'])
    .orderBy('created_at')
    .execute();
  for (const { id } of inFlight) {
    await advanceRestore(deps, id).catch((error: unknown) =>
      deps.log.warn({ event: 'restore.advance_failed', restoreId: id, err: error }, 'could not advance a restore'),
    );
  }
}
