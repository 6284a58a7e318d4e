import { sql } from 'kysely';
import type { InstanceRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import type { SwarmTask } from '../../swarm/docker-types.js';
import { initJobName } from '../../swarm/odoo-init-job.js';
import { findSecretByName, removeJob, taskLogTail } from '../../swarm/swarm.js';
import { replaceDefaultAdmin } from './admin-password.js';
import { moveInstance, patchInstance, recordEvent, scheduler } from './instance-events.js';
import { odooSecretName, odooServiceName } from '../names.js';
import { createServer } from './odoo-services.js';
import { pinnedSpec } from './odoo-spec.js';
import { describeTaskFailure } from '../rollout.js';
import { needsNeutralizing, stagingProblems } from './staging-check.js';
import { conditionsWith } from './instance-conditions.js';

export type InitVerdict = { kind: 'initialised' } | { kind: 'failed'; reason: string; taskId: string | null } | { kind: 'pending' };

const failedStates = new Set(['failed', 'rejected']);

/**
 * Pure: the init job is done once one of its tasks completed; failed once Swarm used up its retries (restart policy
 * MaxAttempts + the first try) or the deadline passed; otherwise still running.
 */
export function judgeInitJob(
  tasks: SwarmTask[],
  policy: { maxFailedTasks: number; deadline: Date },
  now: Date,
  what = 'Odoo initialisation',
): InitVerdict {
  if (tasks.some((task) => task.Status.State === 'complete')) return { kind: 'initialised' };
  const failed = tasks
    .filter((task) => failedStates.has(task.Status.State))
    .sort((a, b) => Date.parse(b.Status.Timestamp) - Date.parse(a.Status.Timestamp));
  const last = failed[0];
  if (last && failed.length >= policy.maxFailedTasks) {
    return {
      kind: 'failed',
      reason: `${what} failed ${failed.length} times; last: ${describeTaskFailure(last)}`,
      taskId: last.ID,
    };
  }
  if (now >= policy.deadline) {
    const state = last ? `last try: ${describeTaskFailure(last)}` : tasks.length > 0 ? 'still running' : 'no task was scheduled';
    return { kind: 'failed', reason: `${what} did not finish before the deadline (${state})`, taskId: last?.ID ?? null };
  }
  return { kind: 'pending' };
}

/**
 * One step of a PROVISIONING instance that has no Odoo service yet, from its row and its init job's tasks:
 * once the job completed, the default admin is replaced and `initialized_at` set; then the tenant's service is
 * created and the job removed. Each step is recorded before the next starts, so a daemon that stops anywhere
 * resumes from the row. A failed job moves the instance to FAILED with the job's last log lines.
 */
export async function advanceInitialisation(deps: Deps, instance: InstanceRow, jobTasks: SwarmTask[], now: Date): Promise<void> {
  const deadline = new Date(instance.status_changed_at.getTime() + deps.config.provisionDeadlineSeconds * 1000);
  try {
    await advance(deps, instance, jobTasks, deadline, now);
  } catch (error) {
    // A step that keeps failing (the pool unreachable, the secret gone) is retried each tick until the deadline.
    if (now < deadline) throw error;
    const reason = `Odoo initialisation could not finish before the deadline: ${(error as Error).message}`;
    const moved = await moveInstance(deps, deps.db, instance, 'failInitialisation', scheduler('tracking'), {
      patch: { conditions: conditionsWith('initialisation', reason) },
      message: reason,
    });
    if (moved) deps.log.warn({ event: 'instance.failed', instanceId: instance.id, phase: 'init', error: reason }, 'instance FAILED');
  }
}

async function advance(deps: Deps, instance: InstanceRow, jobTasks: SwarmTask[], deadline: Date, now: Date): Promise<void> {
  let current = instance;
  if (!current.initialized_at) {
    const verdict = judgeInitJob(jobTasks, { maxFailedTasks: deps.config.odooRestartMaxAttempts + 1, deadline }, now);
    if (verdict.kind === 'pending') return;
    if (verdict.kind === 'failed') return failJob(deps, current, verdict, 'init');
    await replaceDefaultAdmin(deps, current);
    const marked = await patchInstance(
      deps,
      deps.db,
      current.id,
      { initialized_at: sql`now()` },
      {
        onlyIf: (eb) => eb.and([eb('status', '=', 'PROVISIONING'), eb('initialized_at', 'is', null)]),
        event: {
          trigger: scheduler('initialisation'),
          message: `database initialised; admin login ${current.admin_email}, password not issued`,
        },
      },
    );
    if (!marked) return;
    deps.log.info({ event: 'instance.initialised', instanceId: current.id }, 'database initialised');
    current = marked;
  }

  if (needsNeutralizing(current)) {
    const neutralized = await neutralize(deps, current, jobTasks, deadline, now);
    if (!neutralized) return;
    current = neutralized;
  }

  const serviceName = current.service_name ?? odooServiceName(current);
  const secret = await findSecretByName(deps.docker, odooSecretName(current));
  if (!secret) throw new Error(`the config secret of instance ${current.id} is gone`);
  const spec = await pinnedSpec(deps, deps.db, current);
  const serviceId = await createServer(deps, current, spec, { id: secret.ID, name: secret.Spec.Name });
  const started = await patchInstance(
    deps,
    deps.db,
    current.id,
    { service_id: serviceId, init_job_id: null },
    { onlyIf: (eb) => eb.and([eb('status', '=', 'PROVISIONING'), eb('service_id', 'is', null)]) },
  );
  if (!started) return;
  await removeJob(deps.docker, initJobName(serviceName));
  await recordEvent(deps, deps.db, current.id, scheduler('initialisation'), `service ${serviceName} created`);
  deps.log.info({ event: 'provisioning.server_created', instanceId: current.id, service: serviceName, serviceId }, 'odoo service created');
}

/** Moves the instance to FAILED with the job's reason and its last log lines. */
async function failJob(deps: Deps, instance: InstanceRow, verdict: { reason: string; taskId: string | null }, phase: string) {
  const logTail = verdict.taskId ? await taskLogTail(deps.docker, verdict.taskId, 3).catch(() => '') : '';
  const error = logTail ? `${verdict.reason}; log: ${logTail}` : verdict.reason;
  await failWith(deps, instance, error, phase);
}

async function failWith(deps: Deps, instance: InstanceRow, error: string, phase: string) {
  const moved = await moveInstance(deps, deps.db, instance, 'failInitialisation', scheduler('tracking'), {
    patch: { conditions: conditionsWith('initialisation', error) },
    message: error,
  });
  if (moved) deps.log.warn({ event: 'instance.failed', instanceId: instance.id, phase, error }, 'instance FAILED');
}

/**
 * A staging copy's neutralisation: once its job completed, the copy's database is checked; one that is not neutral
 * fails and is never started. Returns the row marked neutralised, or null while the job runs or once it failed.
 */
async function neutralize(deps: Deps, instance: InstanceRow, jobTasks: SwarmTask[], deadline: Date, now: Date) {
  const verdict = judgeInitJob(jobTasks, { maxFailedTasks: 1, deadline }, now, 'Odoo neutralisation');
  if (verdict.kind === 'pending') return null;
  if (verdict.kind === 'failed') {
    await failJob(deps, instance, verdict, 'neutralize');
    return null;
  }
  const problems = await stagingProblems(deps, instance);
  if (problems.length > 0) {
    await failWith(deps, instance, `the staging copy is not neutralised (${problems.join('; ')}): it is not started`, 'neutralize');
    return null;
  }
  const marked = await patchInstance(
    deps,
    deps.db,
    instance.id,
    { neutralized_at: sql`now()` },
    {
      onlyIf: (eb) => eb.and([eb('status', '=', 'PROVISIONING'), eb('neutralized_at', 'is', null)]),
      event: {
        trigger: scheduler('initialisation'),
        message: 'staging copy neutralised (odoo neutralize) and checked: database.is_neutralized, mail servers and scheduled actions off',
      },
    },
  );
  if (!marked) return null;
  deps.log.info({ event: 'staging.neutralized', instanceId: instance.id }, 'staging copy neutralised');
  return marked;
}
