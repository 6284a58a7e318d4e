import { sql } from 'kysely';
import type { InstanceRow, InstanceStatus } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { moveInstance, scheduler } from '../domain/instance-events.js';
import { inFlightStatuses, servingStatuses } from '../domain/instance-status.js';
import { judgeRollout, judgeServing, judgeStop, tasksSince } from '../domain/rollout.js';
import { advanceInitialisation } from '../domain/tenant-init.js';
import { terminateInstance } from '../domain/termination.js';
import type { SwarmTask } from '../swarm/docker-types.js';
import { managedLabels } from '../swarm/labels.js';
import { listTasksByService, taskLogTail } from '../swarm/swarm.js';
import type { Job } from './scheduler.js';

/** A TERMINATING row this old was left by a daemon that stopped half-way through termination. */
const STALE_TERMINATING_SECONDS = 30;

type Outcome = { to: InstanceStatus; error: string | null; taskId?: string | null } | null;

/** Pure: where the tasks say an instance in flight has arrived, or null while it is still on its way. */
function outcomeFor(deps: Deps, instance: InstanceRow, tasks: SwarmTask[], now: Date): Outcome {
  if (servingStatuses.includes(instance.status)) return servingOutcome(instance, tasks, now);
  const deadline = new Date(instance.status_changed_at.getTime() + deps.config.provisionDeadlineSeconds * 1000);
  if (instance.status === 'STOPPING') {
    const verdict = judgeStop(tasks, deadline, now);
    if (verdict.kind === 'pending') return null;
    return verdict.kind === 'stopped' ? { to: 'STOPPED', error: null } : { to: 'FAILED', error: verdict.reason };
  }
  const relevant = instance.status === 'RESTARTING' ? tasksSince(tasks, instance.status_changed_at) : tasks;
  const verdict = judgeRollout(relevant, { subject: 'Odoo', maxFailedTasks: deps.config.odooRestartMaxAttempts + 1, deadline }, now);
  if (verdict.kind === 'pending') return null;
  return verdict.kind === 'running' ? { to: 'RUNNING', error: null } : { to: 'FAILED', error: verdict.reason, taskId: verdict.taskId };
}

/** Pure: a serving instance reads DEGRADED while its task does not run, RUNNING again when it does, FAILED when Swarm gives up. */
function servingOutcome(instance: InstanceRow, tasks: SwarmTask[], now: Date): Outcome {
  // Only the long-running service's tasks say anything; a row that names none has nothing to judge.
  if (!instance.service_id) return null;
  const verdict = judgeServing(tasks, 'Odoo', now);
  if (verdict.kind === 'running') return instance.status === 'RUNNING' ? null : { to: 'RUNNING', error: null };
  if (verdict.kind === 'degraded') return instance.status === 'DEGRADED' ? null : { to: 'DEGRADED', error: verdict.reason };
  return { to: 'FAILED', error: verdict.reason, taskId: verdict.taskId };
}

/**
 * Follows every instance in flight (provisioning, starting, restarting, stopping) to its end state; a PROVISIONING
 * one goes through its init job first, so RUNNING means initialised and the service's task healthy; from its row and
 * one task listing per tick, so a restarted daemon resumes where the rows say; finishes terminations left half-done.
 * The same listing tells whether the long-running service (its id on the row; one-shot jobs are other services) of a
 * RUNNING or DEGRADED instance still runs.
 * Each transition is written once (moveInstance only applies to the status read).
 */
export async function trackInstances(deps: Deps): Promise<void> {
  // Neither waits for the other: the tick costs little more than its one task listing.
  const [inFlight] = await Promise.all([
    deps.db.selectFrom('instances').selectAll().where('status', 'in', [...inFlightStatuses, ...servingStatuses]).execute(),
    resumeTerminations(deps),
  ]);
  if (inFlight.length === 0) return;

  const tasksByService = await listTasksByService(deps.docker, managedLabels(deps.config.dockerLabels));

  const now = new Date();
  for (const instance of inFlight) {
    // No Odoo service yet: its database is being initialised by the init job, never judged as the service.
    if (instance.status === 'PROVISIONING' && !instance.service_id) {
      await advanceInitialisation(deps, instance, tasksByService.get(instance.init_job_id ?? '') ?? [], now).catch((error: unknown) =>
        deps.log.warn({ event: 'instance.init_step_failed', instanceId: instance.id, err: error }, 'initialisation step failed; retried next tick'),
      );
      continue;
    }
    const outcome = outcomeFor(deps, instance, tasksByService.get(instance.service_id ?? '') ?? [], now);
    if (!outcome) continue;
    const logTail = outcome.taskId ? await taskLogTail(deps.docker, outcome.taskId, 3).catch(() => '') : '';
    const error = outcome.error && logTail ? `${outcome.error}; log: ${logTail}` : outcome.error;
    const moved = await moveInstance(deps, deps.db, instance, outcome.to, scheduler('tracking'), { patch: { error }, message: error });
    if (moved && instance.status === 'PROVISIONING') {
      const seconds = (Date.now() - instance.status_changed_at.getTime()) / 1000;
      deps.metrics.provisioningSeconds.observe({ outcome: outcome.to === 'RUNNING' ? 'running' : 'failed' }, seconds);
    }
    if (moved) {
      const level = outcome.to === 'FAILED' || outcome.to === 'DEGRADED' ? 'warn' : 'info';
      deps.log[level]({ event: `instance.${outcome.to.toLowerCase()}`, instanceId: instance.id, service: instance.service_name, from: instance.status, error }, `instance ${outcome.to}`);
    }
  }
}

async function resumeTerminations(deps: Deps): Promise<void> {
  const stale = await deps.db
    .selectFrom('instances')
    .select('id')
    .where('status', '=', 'TERMINATING')
    .where('status_changed_at', '<', sql<Date>`now() - make_interval(secs => ${STALE_TERMINATING_SECONDS})`)
    .execute();
  for (const { id } of stale) {
    await terminateInstance(deps, id, scheduler('terminate-resume'), { finalBackupWaitMs: 0 }).catch((error: unknown) =>
      deps.log.warn({ event: 'instance.terminate_retry_failed', instanceId: id, err: error }, 'termination still fails'),
    );
  }
}

export const INSTANCE_TRACKING = 'instance-tracking';
export const instanceTrackingJob = (schedule: string): Job => ({ name: INSTANCE_TRACKING, schedule, run: trackInstances });
