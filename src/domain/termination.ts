import type { InstanceRow } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { notFound } from '../errors.js';
import { initJobName } from '../swarm/odoo-init-job.js';
import { moveDir } from '../storage/dirs.js';
import { instanceArchiveDir, instanceDataDir } from '../storage/layout.js';
import { removeJob, removeSecret, removeService } from '../swarm/swarm.js';
import { awaitFinalBackup, isCompletedFinal } from './backup-final.js';
import { deleteCredentials } from './credentials.js';
import { moveInstance, type Trigger } from './instance-events.js';
import { isUuid, odooSecretName, odooServiceName, tenantDatabaseName, tenantRoleName } from './names.js';
import { dropTenantDatabase } from './pool-server.js';
import { releaseSlot } from './pool-state.js';
import { withTransaction } from '../db/transaction.js';

/** How long terminateInstance waits for the final backup before it answers TERMINATING (the scheduler goes on). */
const FINAL_BACKUP_WAIT_MS = 10 * 60_000;

/**
 * Ends an instance: a FINAL backup of its database and filestore first (nothing is dropped until one COMPLETED;
 * meanwhile it stays TERMINATING and the scheduler tries again), then its service and secret go, then its database, role and pool slot go together (one transaction
 * holds the pool while the database is dropped: if the drop fails, the slot stays counted and the instance stays as
 * it was). The filestore is kept in place or archived (FILESTORE_ON_TERMINATE). Terminating again returns it.
 */
export async function terminateInstance(
  deps: Deps,
  instanceId: string,
  trigger: Trigger = { cause: 'terminateInstance', actor: 'admin' },
  options: { finalBackupWaitMs?: number } = {},
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
  const terminating = await deps.db.selectFrom('instances').selectAll().where('id', '=', instanceId).executeTakeFirstOrThrow();
  if (terminating.status === 'TERMINATING' && terminating.db_server_id) {
    const final = await awaitFinalBackup(
      deps,
      instanceId,
      terminating.status_changed_at,
      trigger,
      options.finalBackupWaitMs ?? FINAL_BACKUP_WAIT_MS,
    );
    if (!isCompletedFinal(final)) {
      const error = `Waiting for the final backup (${final.kind} ${final.status}${final.error ? `: ${final.error}` : ''}); the database is dropped only after one completed.`;
      return deps.db
        .updateTable('instances')
        .set({ error })
        .where('id', '=', instanceId)
        .where('status', '=', 'TERMINATING')
        .returningAll()
        .executeTakeFirst()
        .then((row) => row ?? terminating);
    }
  }
  return withTransaction(deps.db, async (trx) => {
    const instance = await trx.selectFrom('instances').selectAll().where('id', '=', instanceId).forUpdate().executeTakeFirstOrThrow();
    if (instance.status !== 'TERMINATING') return instance;

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
      await deps.poolConnections.use(pool, (client) =>
        dropTenantDatabase(client, { database: tenantDatabaseName(instance.id), role: tenantRoleName(instance.id) }),
      );
      await releaseSlot(trx, pool.id);
    }
    await deleteCredentials(deps.redis, instance.id);
    if (deps.config.filestoreOnTerminate === 'archive') {
      deps.storage.assertAvailable();
      const { root } = deps.storage;
      await moveDir(root, instanceDataDir(root, instance.id), instanceArchiveDir(root, instance.id));
    }
    const terminated = await moveInstance(deps, trx, instance, 'TERMINATED', trigger, {
      patch: { service_id: null, error: null },
      message: instance.db_server_id ? 'service, secret, database and role removed; pool slot released' : 'service and secret removed',
    });
    deps.log.info(
      { event: 'instance.terminated', instanceId, poolId: instance.db_server_id },
      'instance terminated; database dropped and slot released',
    );
    return terminated!;
  });
}
