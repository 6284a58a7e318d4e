import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DesiredState, InstanceStatus } from '../../src/db/schema.js';
import { passedDeadline } from '../../src/domain/instances/deadlines.js';
import { pendingChange } from '../../src/domain/instances/reconcile.js';
import type { SwarmTask, TaskState } from '../../src/swarm/docker-types.js';

const task = (desired: TaskState, state: TaskState = desired): SwarmTask => ({
  ID: `task-${desired}-${state}`,
  ServiceID: 'service',
  CreatedAt: '2026-01-01T00:00:00Z',
  UpdatedAt: '2026-01-01T00:00:00Z',
  DesiredState: desired,
  Status: { Timestamp: '2026-01-01T00:00:00Z', State: state, Message: '' },
});
const instance = (status: InstanceStatus, desired: DesiredState, service_name: string | null = 'odoo-acme') => ({
  status,
  desired,
  service_name,
  status_changed_at: new Date('2026-01-01T00:00:10Z'),
  odoo_spec: null as object | null,
});

describe('what of the recorded intent Docker has not taken', () => {
  it('stops again a stopped or suspended instance whose service still asks for a task', () => {
    for (const status of ['STOPPING', 'STOPPED', 'SUSPENDED'] as const)
      for (const desired of ['stopped', 'suspended'] as const) {
        assert.equal(pendingChange(instance(status, desired), [task('running')]), 'scale-to-zero', `${status}/${desired}`);
        assert.equal(pendingChange(instance(status, desired), [task('ready', 'pending')]), 'scale-to-zero', `${status}/${desired}`);
      }
  });

  it('leaves a stop alone once its tasks are told to shut down, even while they still run', () => {
    assert.equal(pendingChange(instance('STOPPING', 'stopped'), [task('shutdown', 'running')]), null);
    assert.equal(pendingChange(instance('STOPPED', 'stopped'), [task('shutdown'), task('shutdown', 'failed')]), null);
    assert.equal(pendingChange(instance('STOPPED', 'stopped'), []), null);
  });

  it('starts a starting instance whose service asks for no task, and only that', () => {
    assert.equal(pendingChange(instance('STARTING', 'running'), [task('shutdown')]), 'run');
    assert.equal(pendingChange(instance('STARTING', 'running'), []), 'run');
    assert.equal(pendingChange(instance('STARTING', 'running'), [task('running', 'starting')]), null);
    for (const status of ['RUNNING', 'DEGRADED', 'RESTARTING', 'STOPPED', 'FAILED'] as const)
      assert.equal(pendingChange(instance(status, 'running'), []), null, status);
  });

  it('touches nothing whose intent and status disagree in ways a call does not leave, or that has no service', () => {
    assert.equal(
      pendingChange(instance('RUNNING', 'stopped'), [task('running')]),
      null,
      'only the statuses a stop or suspension leaves are stopped again',
    );
    assert.equal(pendingChange(instance('RESTORING', 'suspended'), [task('running')]), null, 'a restore owns the service meanwhile');
    assert.equal(pendingChange(instance('STOPPED', 'stopped', null), [task('running')]), null);
    assert.equal(pendingChange(instance('STARTING', 'running', null), []), null);
  });
});

describe('which deadline has passed', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  const before = new Date(now.getTime() - 1);
  const later = new Date(now.getTime() + 60_000);
  const row = (status: InstanceStatus, purge_at: Date | null, staging_expires_at: Date | null) => ({
    status,
    purge_at,
    staging_expires_at,
  });

  it("names a cancelled subscription's grace period or a staging copy's time once it is up, in any status not ended", () => {
    for (const status of ['SUSPENDED', 'ALLOCATED', 'FAILED', 'RESTORING', 'WAITING_FOR_DATABASE'] as const) {
      assert.equal(passedDeadline(row(status, before, null), now), 'purge_at', status);
      assert.equal(passedDeadline(row(status, null, now), now), 'staging_expires_at', status);
    }
  });

  it('names none before its time, without one, or once the instance is ending or ended', () => {
    assert.equal(passedDeadline(row('SUSPENDED', later, later), now), null);
    assert.equal(passedDeadline(row('RUNNING', null, null), now), null);
    for (const status of ['TERMINATING', 'TERMINATED'] as const)
      assert.equal(passedDeadline(row(status, before, before), now), null, status);
  });
});

describe('a resize Docker has not taken', () => {
  const GIB = 1024 ** 3;
  const spec = { cpuLimit: 2, memoryLimitMb: 2048 };
  const restarting = { ...instance('RESTARTING', 'running'), odoo_spec: spec };
  const taskWith = (createdAt: string, nanoCpus: number, memoryBytes: number): SwarmTask => ({
    ...task('running'),
    ID: `task-${createdAt}`,
    CreatedAt: createdAt,
    Spec: { Resources: { Limits: { NanoCPUs: nanoCpus, MemoryBytes: memoryBytes } } },
  });
  const old = taskWith('2026-01-01T00:00:00Z', 1e9, GIB);

  it('resizes a RESTARTING instance whose newest task, from before the plan change, still has the old limits', () => {
    assert.equal(pendingChange(restarting, [old]), 'resize');
    assert.equal(pendingChange(restarting, [taskWith('2025-12-31T00:00:00Z', 2e9, 2 * GIB), old]), 'resize');
  });

  it('leaves it alone once Docker has it: a task since the change, or the newest already with the new limits', () => {
    assert.equal(pendingChange(restarting, [old, taskWith('2026-01-01T00:00:11Z', 1e9, GIB)]), null);
    assert.equal(pendingChange(restarting, [taskWith('2026-01-01T00:00:05Z', 2e9, 2 * GIB)]), null, 'a restart: same limits');
    assert.equal(pendingChange({ ...restarting, odoo_spec: null }, [old]), null, 'no recorded spec to compare with');
    assert.equal(pendingChange({ ...instance('RUNNING', 'running'), odoo_spec: spec }, [old]), null, 'only a resize in flight');
  });
});
