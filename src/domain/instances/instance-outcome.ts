import type { InstanceRow, InstanceStatus } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import type { SwarmTask } from '../../swarm/docker-types.js';
import type { InstanceMove } from './instance-status.js';
import { allows } from './instance-policy.js';
import { judgeRollout, judgeServing, judgeStop, tasksSince } from '../rollout.js';

/** Where the reconciler moves an instance it follows, by what its tasks show. */
export const followMoves = { RUNNING: 'arrive', DEGRADED: 'degrade', STOPPED: 'settleStop', FAILED: 'fail' } as const satisfies Partial<
  Record<InstanceStatus, InstanceMove>
>;

export type Outcome = { to: keyof typeof followMoves; error: string | null; taskId?: string | null } | null;

/**
 * Pure: where the tasks say an instance in flight has arrived, or null while it is still on its way. `staleMount`: why
 * its running container cannot reach its files (a dead CephFS mount), if it cannot.
 */
export function outcomeFor(
  deps: Pick<Deps, 'config'>,
  instance: InstanceRow,
  tasks: SwarmTask[],
  now: Date,
  staleMount: string | null = null,
): Outcome {
  if (allows('serving', instance.status)) return servingOutcome(instance, tasks, now, staleMount);
  const deadline = new Date(instance.status_changed_at.getTime() + deps.config.provisionDeadlineSeconds * 1000);
  if (instance.status === 'STOPPING') {
    const verdict = judgeStop(tasks, deadline, now);
    if (verdict.kind === 'pending') return null;
    return verdict.kind === 'stopped' ? { to: 'STOPPED', error: null } : { to: 'FAILED', error: verdict.reason };
  }
  // A restart's or a start's own tasks: those an earlier stop or restart shut down say nothing about it (they would read
  // as Swarm having given up).
  const relevant =
    instance.status === 'RESTARTING' || instance.status === 'STARTING' ? tasksSince(tasks, instance.status_changed_at) : tasks;
  const verdict = judgeRollout(relevant, { subject: 'Odoo', maxFailedTasks: deps.config.odooRestartMaxAttempts + 1, deadline }, now);
  if (verdict.kind === 'pending') return null;
  return verdict.kind === 'running' ? { to: 'RUNNING', error: null } : { to: 'FAILED', error: verdict.reason, taskId: verdict.taskId };
}

/**
 * Pure: a serving instance reads DEGRADED while its task does not run, or runs on a dead mount; RUNNING again when it
 * runs on its files; FAILED when Swarm gives up.
 */
function servingOutcome(instance: InstanceRow, tasks: SwarmTask[], now: Date, staleMount: string | null): Outcome {
  // Only the long-running service's tasks say anything; a row that names none has nothing to judge.
  if (!instance.service_id) return null;
  const verdict = judgeServing(tasks, 'Odoo', now);
  if (verdict.kind === 'running' && staleMount) return instance.status === 'DEGRADED' ? null : { to: 'DEGRADED', error: staleMount };
  if (verdict.kind === 'running') return instance.status === 'RUNNING' ? null : { to: 'RUNNING', error: null };
  if (verdict.kind === 'degraded') return instance.status === 'DEGRADED' ? null : { to: 'DEGRADED', error: verdict.reason };
  return { to: 'FAILED', error: verdict.reason, taskId: verdict.taskId };
}
