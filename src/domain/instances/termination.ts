import type { InstanceRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { DomainError, notFound } from '../../errors.js';
import { initJobName } from '../../swarm/odoo-init-job.js';
import { moveDir } from '../../storage/dirs.js';
import { instanceArchiveDir, instanceDataDir } from '../../storage/layout.js';
import { hasStatusCode, liveTasks, removeJob, removeSecret, removeService, scaleService } from '../../swarm/swarm.js';
import { finalBackupSince, isCompletedFinal } from '../backups/backup-final.js';
import { deleteCredentials } from '../allocation/credentials.js';
import { moveInstance, patchInstance, scheduler, type Trigger } from './instance-events.js';
import { isUuid, odooSecretName, odooServiceName, tenantDatabaseName, tenantMaintenanceRoleName, tenantRoleName } from '../names.js';
import { dropTenantDatabase, withPoolAdmin } from '../../db/pool-server.js';
import { poolAdminAccess } from '../pools/pools.js';
import { releaseSlot } from '../pools/pool-state.js';
import { withTransaction } from '../../db/transaction.js';
import { conditionsWith, noConditions, reasonIn } from './instance-conditions.js';

export interface TerminateOptions {
  /** No final backup (an admin's decision, recorded): for a tenant whose backup cannot complete. */
  force?: boolean;
}

/**
 * Ends an instance: what was asked is recorded first (TERMINATING, and an admin's waiver of the final backup), then one
 * step of it is taken at once and the reconciler takes the rest, one step a tick (`advanceTermination`), so the call
 * never waits on a backup. It stops serving at once (its service scaled to 0, its init job removed) and counts for its
 * customer until TERMINATED. Once no task of it runs, a FINAL backup of its database and filestore is taken (nothing is
 * dropped until one COMPLETED; a failed one is tried again and `error` says why), unless an admin waived it (`force`,
 * recorded) or the instance never had a database (a slot only reserved: nothing to save, so it ends in this call).
 * Then its service and secret go, then its database, roles and pool slot go together (one transaction holds the pool
 * while the database is dropped: if the drop fails, the slot stays counted and the instance stays as it was). The
 * filestore is kept in place or archived (FILESTORE_ON_TERMINATE). Terminating again returns it.
 */
export async function terminateInstance(
  deps: Deps,
  instanceId: string,
  trigger: Trigger = { cause: 'terminateInstance', actor: 'admin' },
  options: TerminateOptions = {},
): Promise<InstanceRow> {
  if (!isUuid(instanceId)) throw notFound('Instance', instanceId);
  // The move applies only to the status read; when the reconciler moved the instance meanwhile, read again.
  for (let moved = false; !moved;) {
    const current = await deps.db.selectFrom('instances').select(['id', 'status']).where('id', '=', instanceId).executeTakeFirst();
    if (!current) throw notFound('Instance', instanceId);
    moved =
      current.status === 'TERMINATED' ||
      current.status === 'TERMINATING' ||
      !!(await moveInstance(deps, deps.db, current, 'terminate', trigger, { patch: { desired: 'terminated' } }));
  }
  if (options.force) await waiveFinalBackup(deps, instanceId, trigger);
  const terminating = await deps.db.selectFrom('instances').selectAll().where('id', '=', instanceId).executeTakeFirstOrThrow();
  if (terminating.status !== 'TERMINATING') return terminating;
  return advanceTermination(deps, terminating, trigger);
}

/**
 * One step of a TERMINATING instance, never waiting: it stops serving; then, while its final backup is not COMPLETED,
 * that backup is started or advanced one step and the instance stays TERMINATING (with why in its `finalBackup`
 * condition once a backup failed); once it completed (or none is needed), everything of the tenant is removed and it
 * reads TERMINATED. Taken again at every tick of the reconciler, so a daemon stopped anywhere resumes from the row.
 */
export async function advanceTermination(deps: Deps, instance: InstanceRow, trigger: Trigger): Promise<InstanceRow> {
  await stopServing(deps, instance);
  const waiting = needsFinalBackup(instance) ? await finalBackupStep(deps, instance, trigger) : { done: true as const };
  if (waiting.done) return removeEverything(deps, instance.id, trigger);
  if (waiting.error === reasonIn(instance, 'finalBackup')) return instance;
  const updated = await patchInstance(
    deps,
    deps.db,
    instance.id,
    { conditions: conditionsWith('finalBackup', waiting.error) },
    { onlyIf: (eb) => eb('status', '=', 'TERMINATING') },
  );
  return updated ?? instance;
}

/** The scheduler finishes a termination under the cause that began it (an admin's call, the purge, a staging expiry). */
export async function terminationTrigger(deps: Pick<Deps, 'db'>, instanceId: string): Promise<Trigger> {
  const began = await deps.db
    .selectFrom('instance_events')
    .select('cause')
    .where('instance_id', '=', instanceId)
    .where('to_status', '=', 'TERMINATING')
    .orderBy('id', 'desc')
    .executeTakeFirst();
  return scheduler(began?.cause ?? 'terminateInstance');
}

/** A database was made for it (not a slot only reserved), and no admin waived the backup. */
const needsFinalBackup = (instance: InstanceRow): boolean => instance.db_allocation === 'ready' && !instance.final_backup_waived_by;

/** An admin's `force`: recorded on the row (a resumed termination honours it) and as an event. */
async function waiveFinalBackup(deps: Deps, instanceId: string, trigger: Trigger): Promise<void> {
  const waived = await patchInstance(
    deps,
    deps.db,
    instanceId,
    { final_backup_waived_by: trigger.actor },
    {
      onlyIf: (eb) => eb.and([eb('status', '=', 'TERMINATING'), eb('final_backup_waived_by', 'is', null)]),
      event: { trigger, message: 'terminated without a final backup (force)' },
    },
  );
  if (!waived) return;
  deps.log.warn({ event: 'instance.final_backup_waived', instanceId, actor: trigger.actor }, 'termination forced: no final backup');
}

/** Scales the tenant's service to 0 and removes its init job: a terminated tenant serves nothing while it is backed up. */
async function stopServing(deps: Deps, instance: InstanceRow): Promise<void> {
  const service = instance.service_name ?? odooServiceName(instance);
  await scaleService(deps.docker, service, 0).catch((error: unknown) => {
    if (!hasStatusCode(error, 404)) throw error;
  });
  await removeJob(deps.docker, initJobName(service));
}

type FinalBackupStep = { done: true } | { done: false; error: string | null };

/**
 * The final backup one step further: it starts only once no task of the tenant runs (what it backs up no longer
 * changes). Done once a FINAL backup of this termination COMPLETED; until then, an error to show only once one FAILED.
 */
async function finalBackupStep(deps: Deps, instance: InstanceRow, trigger: Trigger): Promise<FinalBackupStep> {
  const running = await liveTasks(deps.docker, instance.service_name ?? odooServiceName(instance));
  if (running.length > 0) return { done: false, error: reasonIn(instance, 'finalBackup') };
  const final = await finalBackupSince(deps, instance.id, instance.status_changed_at, trigger);
  if (isCompletedFinal(final)) return { done: true };
  if (final.kind !== 'FINAL' || final.status !== 'FAILED') return { done: false, error: reasonIn(instance, 'finalBackup') };
  return {
    done: false,
    error:
      `Waiting for the final backup (FAILED${final.error ? `: ${final.error}` : ''}); the database is dropped only after one ` +
      'completed, and a failed one is tried again every minute. An admin can end it without one: terminateInstance(force: true).',
  };
}

/** The service and secrets, then the database, roles and slot (one transaction holds the pool meanwhile), then TERMINATED. */
async function removeEverything(deps: Deps, instanceId: string, trigger: Trigger): Promise<InstanceRow> {
  return withTransaction(deps.db, async (trx) => {
    const instance = await trx.selectFrom('instances').selectAll().where('id', '=', instanceId).forUpdate().executeTakeFirstOrThrow();
    if (instance.status !== 'TERMINATING') return instance;
    if (needsFinalBackup(instance) && !(await hasCompletedFinal(deps, instance)))
      throw new DomainError('CONFLICT', `Instance ${instanceId} has no completed final backup: its database is kept.`);

    await removeService(deps.docker, instance.service_name ?? odooServiceName(instance));
    await removeJob(deps.docker, initJobName(instance.service_name ?? odooServiceName(instance)));
    await removeSecret(deps.docker, odooSecretName(instance));

    if (instance.db_server_id) {
      const pool = await trx
        .selectFrom('db_servers')
        .selectAll()
        .where('id', '=', instance.db_server_id)
        .forUpdate()
        .executeTakeFirstOrThrow();
      const access = poolAdminAccess(pool, deps.config.masterKey);
      const tenant = {
        database: tenantDatabaseName(instance.id),
        role: tenantRoleName(instance.id),
        maintenanceRole: tenantMaintenanceRoleName(instance.id),
      };
      await deps.poolConnections.use(pool, (client) =>
        dropTenantDatabase(client, tenant, (database, work) => withPoolAdmin(access, work, undefined, database)),
      );
      await releaseSlot(trx, pool.id);
    }
    await trx.deleteFrom('tenant_logins').where('instance_id', '=', instance.id).execute();
    await deleteCredentials(deps.redis, instance.id);
    if (deps.config.filestoreOnTerminate === 'archive') {
      deps.storage.assertAvailable();
      const { root } = deps.storage;
      await moveDir(root, instanceDataDir(root, instance.id), instanceArchiveDir(root, instance.id));
    }
    const what = instance.db_allocation === 'ready' ? 'database and roles' : 'what allocation had begun';
    const terminated = await moveInstance(deps, trx, instance, 'remove', trigger, {
      patch: { service_id: null, conditions: noConditions() },
      message: instance.db_server_id ? `service, secret, ${what} removed; pool slot released` : 'service and secret removed',
    });
    deps.log.info(
      { event: 'instance.terminated', instanceId, poolId: instance.db_server_id, finalBackupWaivedBy: instance.final_backup_waived_by },
      'instance terminated; database dropped and slot released',
    );
    return terminated!;
  });
}

/** Checked again under the row lock: a FINAL backup of this termination completed. */
async function hasCompletedFinal(deps: Deps, instance: InstanceRow): Promise<boolean> {
  const final = await deps.db
    .selectFrom('backups')
    .select('id')
    .where('instance_id', '=', instance.id)
    .where('kind', '=', 'FINAL')
    .where('status', '=', 'COMPLETED')
    .where('not_before', '>=', instance.status_changed_at)
    .executeTakeFirst();
  return final !== undefined;
}
