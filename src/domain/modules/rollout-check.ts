import type { Transaction } from 'kysely';
import type { Database, InstanceRow, ModuleChangeRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { checkJobName, odooLoginCheckJobSpec } from '../../swarm/odoo-check-job.js';
import type { OdooSpec } from '../../swarm/odoo-config.js';
import { findSecretByName, scaleService } from '../../swarm/swarm.js';
import { failureWithLog, jobTasks, judgeJob } from '../backups/backup-jobs.js';
import { moveInstance, recordEvent } from '../instances/instance-events.js';
import { changeTrigger, giveBack, givenBackRunning, setChange, startRollback, type Step } from './module-change-parts.js';
import { odooSecretName } from '../names.js';
import { createOdooJob } from '../instances/odoo-services.js';
import { recordSpec } from '../instances/odoo-spec.js';
import { allows } from '../instances/instance-policy.js';
import { latestReason } from '../instances/instance-conditions.js';

/**
 * A rollout's `-u all` went through: the tenant's spec now names the new image and the tenant is given back on it. One
 * that runs again is checked next (VERIFYING); one left stopped or suspended is done, and runs the new build when
 * started.
 */
export async function rolloutApplied(
  deps: Deps,
  trx: Transaction<Database>,
  change: ModuleChangeRow,
  instance: InstanceRow,
): Promise<Step> {
  const spec: OdooSpec = { ...(change.previous_spec as OdooSpec), image: change.image! };
  await recordSpec(deps, trx, instance.id, spec);
  const runs = givenBackRunning(change, instance);
  await giveBack(
    deps,
    trx,
    change,
    { ...instance, odoo_spec: spec },
    `all modules updated on ${change.image}${runs ? '; the tenant starts on it and is checked once it runs' : ''}`,
  );
  await setChange(trx, change, runs ? { status: 'VERIFYING' } : { status: 'COMPLETED', finished_at: new Date() });
  return { removeJob: true };
}

/**
 * A rolled-out tenant's check: once it runs on the new image, a job asks its server for the login page. A tenant that
 * fails on the new build, stays degraded past PROVISION_DEADLINE_SECONDS, or whose login page does not answer is
 * stopped and rolled back: its old spec again, and a restore of the FINAL backup taken before the update.
 */
export async function verifyRollout(deps: Deps, trx: Transaction<Database>, change: ModuleChangeRow, instance: InstanceRow): Promise<Step> {
  const now = new Date();
  const deadline = new Date(change.updated_at.getTime() + deps.config.provisionDeadlineSeconds * 1000);
  if (allows('startingAfterRollout', instance.status)) return;
  if (instance.status === 'FAILED')
    return rollBack(deps, trx, change, instance, `the tenant failed on the new build: ${latestReason(instance.conditions)}`);
  if (instance.status === 'DEGRADED')
    return now >= deadline
      ? rollBack(
          deps,
          trx,
          change,
          instance,
          `the tenant did not run on the new build before the deadline: ${latestReason(instance.conditions)}`,
        )
      : undefined;
  if (instance.status !== 'RUNNING') {
    await setChange(trx, change, { status: 'COMPLETED', finished_at: now });
    await recordEvent(deps, trx, instance.id, changeTrigger(change), `on ${change.image}; not checked: the tenant is ${instance.status}`);
    return { removeJob: true };
  }
  if (!change.check_job_id) {
    const secret = await findSecretByName(deps.docker, odooSecretName(instance));
    if (!secret) throw new Error(`the config secret of instance ${instance.id} is gone`);
    const jobId = await createOdooJob(deps, instance, instance.odoo_spec as OdooSpec, { id: secret.ID, name: secret.Spec.Name }, (input) =>
      odooLoginCheckJobSpec(input, change.id),
    );
    await setChange(trx, change, { check_job_id: jobId });
    return;
  }
  const tasks = await jobTasks(deps, checkJobName(change.id));
  const verdict =
    tasks === null
      ? ({ kind: 'failed', reason: 'the check job was removed before it finished', taskId: null } as const)
      : judgeJob(tasks, deadline, now);
  if (verdict.kind === 'pending') return;
  if (verdict.kind === 'failed')
    return rollBack(deps, trx, change, instance, `its login page did not answer on the new build: ${await failureWithLog(deps, verdict)}`);
  await setChange(trx, change, { status: 'COMPLETED', finished_at: now });
  await recordEvent(deps, trx, instance.id, changeTrigger(change), `running on ${change.image}; its login page answers`);
  deps.log.info({ event: 'rollout.tenant_done', instanceId: instance.id, changeId: change.id, image: change.image }, 'tenant rolled out');
  return { removeJob: true };
}

/** Stops the tenant, gives it its old spec back and restores the FINAL backup taken before the update. */
async function rollBack(
  deps: Deps,
  trx: Transaction<Database>,
  change: ModuleChangeRow,
  instance: InstanceRow,
  reason: string,
): Promise<Step> {
  if (!allows('rollbackable', instance.status)) return;
  const previous = change.previous_spec as OdooSpec;
  await recordSpec(deps, trx, instance.id, previous);
  await scaleService(deps.docker, instance.service_name!, 0);
  const stopped = await moveInstance(deps, trx, instance, 'rollBack', changeTrigger(change), {
    message: `${reason}; the tenant is stopped and rolled back to ${previous.image}`,
  });
  if (!stopped) return;
  return startRollback(deps, trx, change, stopped, reason);
}
