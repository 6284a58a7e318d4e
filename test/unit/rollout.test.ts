import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canTransition, instanceTransitions } from '../../src/domain/instances/instance-status.js';
import { describeTaskFailure, judgeRollout, judgeServing } from '../../src/domain/rollout.js';
import { instanceStatuses, type InstanceStatus } from '../../src/db/schema.js';

const statusesAfter = (from: InstanceStatus) => instanceStatuses.filter((to) => canTransition(from, to));
const statusesBefore = (to: InstanceStatus) =>
  (Object.keys(instanceTransitions) as InstanceStatus[]).filter((from) => canTransition(from, to));
import type { SwarmTask, TaskState } from '../../src/swarm/docker-types.js';

const task = (state: TaskState, at: string, extra: Partial<SwarmTask['Status']> = {}, desired: TaskState = 'running'): SwarmTask => ({
  ID: `task-${at}`,
  ServiceID: 'service',
  CreatedAt: at,
  UpdatedAt: at,
  DesiredState: desired,
  Status: { Timestamp: at, State: state, Message: state, ...extra },
});

const now = new Date('2026-01-01T00:10:00Z');
const policy = { subject: 'Odoo', maxFailedTasks: 2, deadline: new Date('2026-01-01T00:20:00Z') };

describe('judging a rollout from its tasks', () => {
  it('is running once a task wanted running runs, since the task says so', () => {
    const verdict = judgeRollout(
      [task('failed', '2026-01-01T00:01:00Z', {}, 'shutdown'), task('running', '2026-01-01T00:02:00Z')],
      policy,
      now,
    );
    assert.deepEqual(verdict, { kind: 'running', since: new Date('2026-01-01T00:02:00Z') });
  });

  it('is pending while the task starts (health check not yet passed)', () => {
    assert.deepEqual(judgeRollout([task('starting', '2026-01-01T00:02:00Z')], policy, now), { kind: 'pending' });
    assert.deepEqual(judgeRollout([], policy, now), { kind: 'pending' });
  });

  it("fails once Swarm's restarts are used up, in Docker's words with the exit code", () => {
    const tasks = [
      task('failed', '2026-01-01T00:01:00Z', { Err: 'task: non-zero exit (1)', ContainerStatus: { ExitCode: 1 } }, 'shutdown'),
      task('failed', '2026-01-01T00:02:00Z', { Err: 'task: non-zero exit (2)', ContainerStatus: { ExitCode: 2 } }, 'shutdown'),
    ];
    const verdict = judgeRollout(tasks, policy, now);
    assert.equal(verdict.kind, 'failed');
    assert.equal(verdict.kind === 'failed' && verdict.reason, 'Odoo failed 2 times; last: task: non-zero exit (2), exit code 2');
    assert.equal(verdict.kind === 'failed' && verdict.taskId, 'task-2026-01-01T00:02:00Z');
  });

  it('keeps waiting after fewer failures than the restart policy allows', () => {
    assert.deepEqual(judgeRollout([task('rejected', '2026-01-01T00:01:00Z', { Err: 'No such image: x' })], policy, now), {
      kind: 'pending',
    });
  });

  it('fails at the deadline with the last task state', () => {
    const verdict = judgeRollout([task('preparing', '2026-01-01T00:01:00Z')], policy, new Date('2026-01-01T00:20:00Z'));
    assert.deepEqual(verdict, {
      kind: 'failed',
      reason: 'Odoo was not running before the deadline (last task preparing: preparing)',
      taskId: null,
    });
  });

  it("names the last failure at the deadline when the newest task is that failure's replacement", () => {
    const tasks = [
      task('rejected', '2026-01-01T00:01:00Z', { Err: 'No such image: local/nope:1' }, 'shutdown'),
      task('pending', '2026-01-01T00:01:01Z', { Message: 'pending task scheduling' }),
    ];
    const verdict = judgeRollout(tasks, policy, new Date('2026-01-01T00:20:00Z'));
    assert.deepEqual(verdict, {
      kind: 'failed',
      reason:
        'Odoo was not running before the deadline (last task pending: pending task scheduling; last failure: No such image: local/nope:1)',
      taskId: 'task-2026-01-01T00:01:00Z',
    });
  });

  it('fails within a moment of Swarm giving up on health checks, though each task ended `complete` with exit code 0', () => {
    // What real Odoo does when Swarm stops it as unhealthy: SIGTERM, exit 0, no error.
    const stopped = { Message: 'finished', ContainerStatus: { ContainerID: 'c', ExitCode: 0 } };
    const tasks = [
      task('complete', '2026-01-01T00:09:40Z', stopped, 'shutdown'),
      task('complete', '2026-01-01T00:09:58Z', stopped, 'shutdown'),
    ];
    assert.deepEqual(judgeRollout(tasks, policy, now), { kind: 'pending' }, 'its replacement may be on its way');
    assert.deepEqual(judgeRollout(tasks, policy, new Date('2026-01-01T00:10:02Z')), {
      kind: 'failed',
      reason: 'Swarm gave up on Odoo after 2 tasks; last: task complete (finished), exit code 0',
      taskId: 'task-2026-01-01T00:09:58Z',
    });
    const restarting = [tasks[0]!, task('ready', '2026-01-01T00:09:59Z', {}, 'ready')];
    assert.deepEqual(judgeRollout(restarting, policy, new Date('2026-01-01T00:10:30Z')), { kind: 'pending' }, 'a replacement waits');
  });

  it('describes a rejected task by its error alone', () => {
    assert.equal(
      describeTaskFailure(task('rejected', '2026-01-01T00:01:00Z', { Err: 'No such image: local/nope:1' })),
      'No such image: local/nope:1',
    );
  });
});

describe('judging a serving instance from its tasks', () => {
  const killed = { Err: 'task: non-zero exit (137)', ContainerStatus: { ExitCode: 137 } };

  it('is running while a task wanted running runs', () => {
    assert.deepEqual(
      judgeServing([task('failed', '2026-01-01T00:01:00Z', killed, 'shutdown'), task('running', '2026-01-01T00:02:00Z')], 'Odoo', now),
      { kind: 'running' },
    );
  });

  it("is degraded, in Docker's words, while Swarm restarts a dead task (its replacement waits, desired ready, or starts)", () => {
    for (const replacement of [task('ready', '2026-01-01T00:09:59Z', {}, 'ready'), task('starting', '2026-01-01T00:09:59Z')]) {
      const verdict = judgeServing([task('failed', '2026-01-01T00:09:58Z', killed, 'shutdown'), replacement], 'Odoo', now);
      assert.deepEqual(verdict, {
        kind: 'degraded',
        reason: 'Odoo is not running (task: non-zero exit (137), exit code 137); Swarm is restarting it',
      });
    }
  });

  it('waits a moment before reading a dead task with no replacement as Swarm giving up, then fails with the last failure', () => {
    const dead = [task('failed', '2026-01-01T00:05:00Z', killed, 'shutdown'), task('failed', '2026-01-01T00:09:59Z', killed, 'shutdown')];
    assert.equal(judgeServing(dead, 'Odoo', now).kind, 'degraded');
    const verdict = judgeServing(dead, 'Odoo', new Date('2026-01-01T00:10:05Z'));
    assert.deepEqual(verdict, {
      kind: 'failed',
      reason: 'Swarm gave up restarting Odoo; last: task: non-zero exit (137), exit code 137',
      taskId: 'task-2026-01-01T00:09:59Z',
    });
    assert.equal(judgeServing([], 'Odoo', now).kind, 'failed', 'a service with no task at all does not serve');
  });

  it('fails once Swarm gave up on a task it stopped as unhealthy, which ended `complete` with exit code 0', () => {
    const stopped = task('complete', '2026-01-01T00:09:00Z', { Message: 'finished', ContainerStatus: { ExitCode: 0 } }, 'shutdown');
    assert.deepEqual(judgeServing([stopped], 'Odoo', now), {
      kind: 'failed',
      reason: 'Swarm gave up restarting Odoo; last: task complete (finished), exit code 0',
      taskId: 'task-2026-01-01T00:09:00Z',
    });
  });
});

describe('the instance status machine', () => {
  it('suspends from any status with a service, and leaves SUSPENDED only by resuming (STARTING) or terminating', () => {
    for (const from of ['RUNNING', 'DEGRADED', 'STOPPING', 'STOPPED', 'STARTING', 'RESTARTING', 'FAILED'] as const)
      assert.ok(canTransition(from, 'SUSPENDED'), from);
    assert.ok(!canTransition('PROVISIONING', 'SUSPENDED'));
    assert.deepEqual(statusesAfter('SUSPENDED'), ['STARTING', 'TERMINATING']);
  });

  it('follows a RUNNING instance to DEGRADED and back, restarts from DEGRADED and FAILED, and enters RESTORING from a tenant with data', () => {
    assert.ok(canTransition('RUNNING', 'DEGRADED') && canTransition('DEGRADED', 'RUNNING') && canTransition('DEGRADED', 'FAILED'));
    assert.ok(canTransition('DEGRADED', 'RESTARTING') && canTransition('FAILED', 'RESTARTING'));
    assert.deepEqual(statusesBefore('RESTORING'), ['ALLOCATED', 'RUNNING', 'DEGRADED', 'STOPPED', 'FAILED']);
  });
});
