import type { Transaction } from 'kysely';
import type { Database, InstanceRow, ModuleChangeRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { withTransaction } from '../../db/transaction.js';
import { moduleJobName, odooModuleJobSpec } from '../../swarm/odoo-module-job.js';
import { findSecretByName, liveTasks, removeJob } from '../../swarm/swarm.js';
import { finalBackupSince, isCompletedFinal } from '../backups/backup-final.js';
import { failureWithLog, jobTasks, judgeJob } from '../backups/backup-jobs.js';
import { patchInstance, recordEvent } from '../instances/instance-events.js';
import {
  changeTrigger,
  describeChange,
  failureMessage,
  giveBack,
  moduleChangeCause,
  setChange,
  startRollback,
  type Step,
} from './module-change-parts.js';
import { odooSecretName } from '../names.js';
import { createOdooJob } from '../instances/odoo-services.js';
import { pinnedSpec } from '../instances/odoo-spec.js';
import { advanceRestore } from '../backups/restores.js';
import { rolloutApplied, verifyRollout } from './rollout-check.js';
import { checkJobName } from '../../swarm/odoo-check-job.js';
import { allows } from '../instances/instance-policy.js';
import { conditionsWith } from '../instances/instance-conditions.js';

/**
 * One step of a module change, with its row locked (a concurrent caller skips it): a restarted daemon resumes from the
 * row. SAVING (the tenant stopped, its FINAL backup) → APPLYING (the job) → COMPLETED with the tenant given back (a
 * rollout's through VERIFYING: started on the new image and checked, rollout-check.ts); or a failed job (or check) → ROLLING_BACK (a restore of the FINAL backup) → SETTLING (once the tenant runs, the error goes on it)
 * → FAILED. A change that failed before its job ran touched nothing: the tenant is given back and it settles the same.
 */
export async function advanceModuleChange(deps: Deps, changeId: string): Promise<void> {
  deps.storage.assertAvailable();
  const step: Step = await withTransaction(deps.db, async (trx) => {
    const change = await trx
      .selectFrom('module_changes')
      .selectAll()
      .where('id', '=', changeId)
      .forUpdate()
      .skipLocked()
      .executeTakeFirst();
    if (!change || change.status === 'COMPLETED' || change.status === 'FAILED') return;
    const instance = await trx
      .selectFrom('instances')
      .selectAll()
      .where('id', '=', change.instance_id)
      .forNoKeyUpdate()
      .executeTakeFirstOrThrow();
    try {
      return await stepChange(deps, trx, change, instance);
    } catch (error) {
      deps.log.warn({ event: 'modules.step_failed', changeId, status: change.status, err: error }, 'module change step failed');
      // Before the job started nothing was changed: the tenant is given back. Later steps are tried again next tick.
      if (change.status !== 'SAVING') throw error;
      return giveBackUntouched(deps, trx, change, instance, (error as Error).message);
    }
  });
  if (step?.removeJob)
    for (const job of [moduleJobName(changeId), checkJobName(changeId)])
      await removeJob(deps.docker, job).catch((error: Error) =>
        deps.log.warn({ event: 'modules.job_left', changeId, job, reason: error.message }, 'finished module job not removed'),
      );
  if (step?.restoreId) await advanceRestore(deps, step.restoreId);
  if (step?.again) await advanceModuleChange(deps, changeId);
}

async function stepChange(deps: Deps, trx: Transaction<Database>, change: ModuleChangeRow, instance: InstanceRow): Promise<Step> {
  if (allows('ended', instance.status)) {
    await setChange(trx, change, { status: 'FAILED', error: 'the instance is being terminated', finished_at: new Date() });
    return { removeJob: true };
  }
  switch (change.status) {
    case 'SAVING':
      return save(deps, trx, change, instance);
    case 'APPLYING':
      return apply(deps, trx, change, instance);
    case 'VERIFYING':
      return verifyRollout(deps, trx, change, instance);
    case 'ROLLING_BACK':
      return afterRollback(trx, change);
    case 'SETTLING':
      return settle(deps, trx, change, instance);
  }
}

/** The FINAL backup once no task of the tenant runs any more, then the job. */
async function save(deps: Deps, trx: Transaction<Database>, change: ModuleChangeRow, instance: InstanceRow): Promise<Step> {
  if ((await liveTasks(deps.docker, instance.service_name!)).length > 0) return;
  const final = await finalBackupSince(deps, instance.id, change.created_at, changeTrigger(change));
  if (final.kind === 'FINAL' && final.status === 'FAILED')
    return giveBackUntouched(deps, trx, change, instance, `the FINAL backup before the change failed: ${final.error}`);
  if (!isCompletedFinal(final)) return;
  const secret = await findSecretByName(deps.docker, odooSecretName(instance));
  if (!secret) throw new Error(`the config secret of instance ${instance.id} is gone`);
  const spec = await pinnedSpec(deps, trx, instance);
  // A rollout's job runs the new build on the tenant's database; the spec it replaces is kept for a rollback.
  const jobSpec = change.kind === 'rollout' ? { ...spec, image: change.image! } : spec;
  const serviceId = await createOdooJob(deps, instance, jobSpec, { id: secret.ID, name: secret.Spec.Name }, (input) =>
    odooModuleJobSpec(input, change.id, change.kind, change.modules),
  );
  await setChange(trx, change, {
    status: 'APPLYING',
    final_backup_id: final.id,
    job_service_id: serviceId,
    previous_spec: change.kind === 'rollout' ? JSON.stringify(spec) : null,
  });
  await recordEvent(deps, trx, instance.id, changeTrigger(change), `FINAL backup ${final.id} taken; ${describeChange(change)}`);
}

/** The job's end: the tenant given back with its modules changed, or rolled back from the FINAL backup. */
async function apply(deps: Deps, trx: Transaction<Database>, change: ModuleChangeRow, instance: InstanceRow): Promise<Step> {
  const tasks = await jobTasks(deps, moduleJobName(change.id));
  const deadline = new Date(change.updated_at.getTime() + deps.config.provisionDeadlineSeconds * 1000);
  const verdict =
    tasks === null
      ? ({ kind: 'failed', reason: 'the module job was removed before it finished', taskId: null } as const)
      : judgeJob(tasks, deadline, new Date());
  if (verdict.kind === 'pending') return;
  if (verdict.kind === 'done') {
    if (change.kind === 'rollout') return rolloutApplied(deps, trx, change, instance);
    await setChange(trx, change, { status: 'COMPLETED', finished_at: new Date() });
    await giveBack(
      deps,
      trx,
      change,
      instance,
      `modules ${change.modules.join(', ')} ${change.kind === 'install' ? 'installed' : 'updated'}`,
    );
    deps.log.info({ event: 'modules.changed', instanceId: instance.id, changeId: change.id }, 'module change completed');
    return { removeJob: true };
  }
  return startRollback(deps, trx, change, instance, await failureWithLog(deps, verdict));
}

/** The rollback's end: the restore gave the tenant back (with the data before the change, unless it failed too). */
async function afterRollback(trx: Transaction<Database>, change: ModuleChangeRow): Promise<Step> {
  const restore = await trx.selectFrom('restores').select(['status', 'error']).where('id', '=', change.restore_id!).executeTakeFirst();
  if (restore && restore.status !== 'COMPLETED' && restore.status !== 'FAILED') return;
  if (restore?.status !== 'COMPLETED') {
    const error = `${change.error}; the rollback failed too (${restore?.error ?? 'its restore is gone'}): FINAL backup ${change.final_backup_id} holds the data from before the change`;
    await setChange(trx, change, { status: 'SETTLING', error });
    return { again: true };
  }
  await setChange(trx, change, { status: 'SETTLING', error: failureMessage(change, change.error ?? '') });
  return { again: true };
}

/** Once the tenant given back has settled (running, stopped, suspended, failed), the change's error goes on it. */
async function settle(deps: Deps, trx: Transaction<Database>, change: ModuleChangeRow, instance: InstanceRow): Promise<Step> {
  if (allows('settlingAfterChange', instance.status)) return;
  if (instance.status !== 'FAILED')
    await patchInstance(deps, trx, instance.id, { conditions: conditionsWith('moduleChange', change.error) });
  await setChange(trx, change, { status: 'FAILED', finished_at: new Date() });
}

/** A change that failed before its job ran: nothing changed, the tenant is given back and the error goes on it once settled. */
async function giveBackUntouched(
  deps: Deps,
  trx: Transaction<Database>,
  change: ModuleChangeRow,
  instance: InstanceRow,
  reason: string,
): Promise<Step> {
  const error = `${moduleChangeCause(change.kind)} (${change.modules.join(', ')}) was not done: ${reason}`;
  await setChange(trx, change, { status: 'SETTLING', error });
  await giveBack(deps, trx, change, instance, error);
  deps.log.warn({ event: 'modules.change_refused', instanceId: instance.id, changeId: change.id, reason }, 'module change not done');
  return { removeJob: true, again: true };
}
