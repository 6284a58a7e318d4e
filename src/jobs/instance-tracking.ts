import { sql } from 'kysely';
import type { InstanceRow, InstanceStatus } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { moveInstance, scheduler } from '../domain/instance-events.js';
import { inFlightStatuses } from '../domain/instance-status.js';
import { judgeRollout, judgeStop, tasksSince } from '../domain/rollout.js';
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

/**
 * Follows every instance in flight (provisioning, starting, restarting, stopping) to its end state from its row and
 * one task listing per tick, so a restarted daemon resumes where the rows say; finishes terminations left half-done.
 * Each transition is written once (moveInstance only applies to the status read).
 */
export async function trackInstances(deps: Deps): Promise<void> {
  await resumeTerminations(deps);
  const inFlight = await deps.db.selectFrom('instances').selectAll().where('status', 'in', inFlightStatuses).execute();
  if (inFlight.length === 0) return;

  const tasksByService = await listTasksByService(deps.docker, managedLabels(deps.config.dockerLabels));

  const now = new Date();
  for (const instance of inFlight) {
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
      const level = outcome.to === 'FAILED' ? 'warn' : 'info';
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
