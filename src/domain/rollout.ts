import type { SwarmTask } from '../swarm/docker-types.js';

/** What the tasks of an instance's service say about its rollout. */
export type RolloutVerdict =
  { kind: 'running'; since: Date } | { kind: 'failed'; reason: string; taskId: string | null } | { kind: 'pending' };

export interface RolloutPolicy {
  /** What the service runs, as the reasons name it. */
  subject: string;
  /** Failed tasks after which Swarm stops restarting (restart policy MaxAttempts + the first try). */
  maxFailedTasks: number;
  deadline: Date;
}

const failedStates = new Set(['failed', 'rejected']);

/**
 * Docker's own words for a task that ended: its error and the container's exit code. A task Swarm stopped because its
 * health check failed reads `complete` with exit code 0 (Odoo exits 0 on SIGTERM): the exit code is said then too.
 */
export function describeTaskFailure(task: SwarmTask): string {
  const exitCode = task.Status.ContainerStatus?.ExitCode;
  const words = task.Status.Err || task.Status.Message || task.Status.State;
  const parts = [task.Status.State === 'complete' && words !== 'complete' ? `task complete (${words})` : words];
  if (exitCode !== undefined && (exitCode !== 0 || task.Status.State === 'complete')) parts.push(`exit code ${exitCode}`);
  return parts.join(', ');
}

const newestFirst = (a: SwarmTask, b: SwarmTask) => Date.parse(b.Status.Timestamp) - Date.parse(a.Status.Timestamp);

/** Desired states of a task Swarm still means to run (`ready` while the restart policy's delay runs). */
const meantToRun = new Set(['running', 'ready']);
/**
 * Swarm creates a dead task's replacement at once (its start is what the restart delay holds back): no task meant to
 * run for longer than this means Swarm gave up, not that the replacement is on its way.
 */
const GIVE_UP_SETTLE_MS = 3000;

/** The task Swarm gave up with, once it has had tasks, none is meant to run any more, and that has lasted. */
function givenUp(tasks: SwarmTask[], now: Date): SwarmTask | null {
  if (tasks.length === 0 || tasks.some((task) => meantToRun.has(task.DesiredState))) return null;
  const newest = [...tasks].sort(newestFirst);
  if (now.getTime() - Date.parse(newest[0]!.Status.Timestamp) < GIVE_UP_SETTLE_MS) return null;
  return newest.find((task) => failedStates.has(task.Status.State)) ?? newest[0]!;
}

/**
 * Pure: RUNNING as soon as a task wanted running is running (with a health check that means healthy); FAILED once
 * Swarm has used up its restarts, gave up (no task meant to run: whatever state the last one ended in, `complete` with
 * exit code 0 included) or the deadline passed; otherwise still pending.
 */
export function judgeRollout(tasks: SwarmTask[], policy: RolloutPolicy, now: Date): RolloutVerdict {
  const running = tasks.find((task) => task.DesiredState === 'running' && task.Status.State === 'running');
  if (running) return { kind: 'running', since: new Date(running.Status.Timestamp) };

  const failed = tasks.filter((task) => failedStates.has(task.Status.State)).sort(newestFirst);
  const lastFailure = failed[0];
  if (lastFailure && failed.length >= policy.maxFailedTasks) {
    return {
      kind: 'failed',
      reason: `${policy.subject} failed ${failed.length} times; last: ${describeTaskFailure(lastFailure)}`,
      taskId: lastFailure.ID,
    };
  }
  const last = givenUp(tasks, now);
  if (last) {
    return {
      kind: 'failed',
      reason: `Swarm gave up on ${policy.subject} after ${tasks.length} ${tasks.length === 1 ? 'task' : 'tasks'}; last: ${describeTaskFailure(last)}`,
      taskId: last.ID,
    };
  }
  if (now >= policy.deadline) {
    const latest = [...tasks].sort(newestFirst)[0];
    const state = latest ? `last task ${latest.Status.State}: ${describeTaskFailure(latest)}` : 'no task was scheduled';
    // Swarm makes a failed task's replacement at once, so the newest task is often one still waiting to be scheduled.
    const failure = lastFailure && lastFailure !== latest ? `; last failure: ${describeTaskFailure(lastFailure)}` : '';
    return {
      kind: 'failed',
      reason: `${policy.subject} was not running before the deadline (${state}${failure})`,
      taskId: lastFailure?.ID ?? null,
    };
  }
  return { kind: 'pending' };
}

const endedStates = new Set(['complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned']);

/** Pure: stopped once no task is left that runs or is about to; failed if that takes past the deadline. */
export function judgeStop(
  tasks: SwarmTask[],
  deadline: Date,
  now: Date,
): { kind: 'stopped' } | { kind: 'failed'; reason: string } | { kind: 'pending' } {
  if (tasks.every((task) => endedStates.has(task.Status.State))) return { kind: 'stopped' };
  if (now >= deadline) return { kind: 'failed', reason: 'Odoo did not stop before the deadline' };
  return { kind: 'pending' };
}

/** Tasks Swarm created at or after `since` (a restart's replacements, not the tasks it shut down). */
export const tasksSince = (tasks: SwarmTask[], since: Date): SwarmTask[] =>
  tasks.filter((task) => Date.parse(task.CreatedAt) >= since.getTime());

/** What the tasks of a serving (RUNNING or DEGRADED) instance's service say about it now. */
export type ServingVerdict =
  { kind: 'running' } | { kind: 'degraded'; reason: string } | { kind: 'failed'; reason: string; taskId: string | null };

/**
 * Pure: running while a task runs (healthy, with a health check); degraded, with Docker's reason, while none runs but
 * Swarm means to run one (it restarts it); failed once no task is meant to run any more (restart attempts used up).
 */
export function judgeServing(tasks: SwarmTask[], subject: string, now: Date): ServingVerdict {
  if (tasks.some((task) => task.DesiredState === 'running' && task.Status.State === 'running')) return { kind: 'running' };
  const newest = [...tasks].sort(newestFirst);
  const lastFailure = newest.find((task) => failedStates.has(task.Status.State)) ?? newest.find((task) => task.DesiredState === 'shutdown');
  const reason = lastFailure ? describeTaskFailure(lastFailure) : newest[0] ? `task ${newest[0].Status.State}` : 'no task';
  if (tasks.some((task) => meantToRun.has(task.DesiredState)))
    return { kind: 'degraded', reason: `${subject} is not running (${reason}); Swarm is restarting it` };
  if (tasks.length === 0) return { kind: 'failed', reason: `Swarm gave up restarting ${subject}; last: no task`, taskId: null };
  const last = givenUp(tasks, now);
  if (!last) return { kind: 'degraded', reason: `${subject} is not running (${reason})` };
  return { kind: 'failed', reason: `Swarm gave up restarting ${subject}; last: ${describeTaskFailure(last)}`, taskId: last.ID };
}
