import { setTimeout as sleep } from 'node:timers/promises';
import type { InstanceRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { DomainError, notFound } from '../../errors.js';
import { initJobName } from '../../swarm/odoo-init-job.js';
import { moveDir } from '../../storage/dirs.js';
import { instanceArchiveDir, instanceDataDir } from '../../storage/layout.js';
import { hasStatusCode, liveTasks, removeJob, removeSecret, removeService, scaleService } from '../../swarm/swarm.js';
import { awaitFinalBackup, isCompletedFinal } from '../backups/backup-final.js';
import { deleteCredentials } from '../allocation/credentials.js';
import { moveInstance, recordEvent, type Trigger } from './instance-events.js';
import { isUuid, odooSecretName, odooServiceName, tenantDatabaseName, tenantMaintenanceRoleName, tenantRoleName } from '../names.js';
import { dropTenantDatabase, withPoolAdmin } from '../../db/pool-server.js';
import { poolAdminAccess } from '../pools/pools.js';
import { releaseSlot } from '../pools/pool-state.js';
import { withTransaction } from '../../db/transaction.js';

/** How long terminateInstance waits for the final backup before it answers TERMINATING (the scheduler goes on). */
const FINAL_BACKUP_WAIT_MS = 10 * 60_000;
const STOP_POLL_MS = 250;

export interface TerminateOptions {
  finalBackupWaitMs?: number;
  /** No final backup (an admin's decision, recorded): for a tenant whose backup cannot complete. */
  force?: boolean;
}

/**
 * Ends an instance. It stops serving at once (its service scaled to 0, its init job removed), and counts for its
 * customer until TERMINATED. Once no task of it runs, a FINAL backup of its database and filestore is taken (nothing is
 * dropped until one COMPLETED; meanwhile it stays TERMINATING, `error` says why, and the scheduler tries again), unless
 * an admin waived it (`force`, recorded) or the instance never had a database (a slot only reserved: nothing to save).
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
  // Visible at once, and a daemon that stops half-way resumes from here (the scheduler finishes TERMINATING rows).
  // The move applies only to the status read; when the scheduler moved the instance meanwhile, read again.
  for (let moved = false; !moved;) {
    const current = await deps.db.selectFrom('instances').select(['id', 'status']).where('id', '=', instanceId).executeTakeFirst();
    if (!current) throw notFound('Instance', instanceId);
    moved =
      current.status === 'TERMINATED' ||
      current.status === 'TERMINATING' ||
      !!(await moveInstance(deps, deps.db, current, 'TERMINATING', trigger));
  }
  if (options.force) await waiveFinalBackup(deps, instanceId, trigger);
  const terminating = await deps.db.selectFrom('instances').selectAll().where('id', '=', instanceId).executeTakeFirstOrThrow();
  if (terminating.status !== 'TERMINATING') return terminating;
  await stopServing(deps, terminating);

  const waitMs = options.finalBackupWaitMs ?? FINAL_BACKUP_WAIT_MS;
  const waiting = needsFinalBackup(terminating) ? await finalBackupTaken(deps, terminating, trigger, waitMs) : null;
  if (waiting) {
    return deps.db
      .updateTable('instances')
      .set({ error: waiting })
      .where('id', '=', instanceId)
      .where('status', '=', 'TERMINATING')
      .returningAll()
      .executeTakeFirst()
      .then((row) => row ?? terminating);
  }
  return removeEverything(deps, instanceId, trigger);
}

/** A database was made for it (not a slot only reserved), and no admin waived the backup. */
const needsFinalBackup = (instance: InstanceRow): boolean => instance.db_allocation === 'ready' && !instance.final_backup_waived_by;

/** An admin's `force`: recorded on the row (a resumed termination honours it) and as an event. */
async function waiveFinalBackup(deps: Deps, instanceId: string, trigger: Trigger): Promise<void> {
  const waived = await deps.db
    .updateTable('instances')
    .set({ final_backup_waived_by: trigger.actor })
    .where('id', '=', instanceId)
    .where('status', '=', 'TERMINATING')
    .where('final_backup_waived_by', 'is', null)
    .returning('id')
    .executeTakeFirst();
  if (!waived) return;
  await recordEvent(deps, deps.db, instanceId, trigger, 'terminated without a final backup (force)');
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

/**
 * Null once a FINAL backup completed; else why the termination waits, for the instance's `error`. The backup starts
 * only once no task of the tenant runs (what it backs up no longer changes), waiting up to `waitMs` for that and for it.
 */
async function finalBackupTaken(deps: Deps, instance: InstanceRow, trigger: Trigger, waitMs: number): Promise<string | null> {
  const deadline = Date.now() + waitMs;
  const service = instance.service_name ?? odooServiceName(instance);
  for (;;) {
    const running = await liveTasks(deps.docker, service);
    if (running.length === 0) break;
    if (Date.now() >= deadline)
      return `Waiting for Odoo to stop (${running.length} task(s) still running) before the final backup; the database is dropped only after one completed.`;
    await sleep(Math.min(STOP_POLL_MS, Math.max(0, deadline - Date.now())));
  }
  const final = await awaitFinalBackup(deps, instance.id, instance.status_changed_at, trigger, Math.max(0, deadline - Date.now()));
  if (isCompletedFinal(final)) return null;
  const state =
    final.kind === 'FINAL' ? `${final.status}${final.error ? `: ${final.error}` : ''}` : `waiting for the ${final.kind} backup under way`;
  return (
    `Waiting for the final backup (${state}); the database is dropped only after one completed, and a failed one is tried ` +
    'again every minute. An admin can end it without one: terminateInstance(force: true).'
  );
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
    const terminated = await moveInstance(deps, trx, instance, 'TERMINATED', trigger, {
      patch: { service_id: null, error: null },
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
