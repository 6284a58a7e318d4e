import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { instanceStatuses, type InstanceStatus } from '../../src/db/schema.js';
import { allows, instancePolicy, statusesWhere, type InstanceRule } from '../../src/domain/instances/instance-policy.js';
import { canTransition, instanceMoves } from '../../src/domain/instances/instance-status.js';

const rules = Object.keys(instancePolicy) as InstanceRule[];
const without = (rule: InstanceRule) => instanceStatuses.filter((status) => !allows(rule, status));
const isSubset = (inner: InstanceRule, outer: InstanceRule) => statusesWhere(inner).every((status) => allows(outer, status));

describe('instance policy', () => {
  it('names each status once per rule, none twice', () => {
    for (const rule of rules) assert.equal(new Set(statusesWhere(rule)).size, statusesWhere(rule).length, rule);
  });

  it('names for each rule that leads to a move only statuses the transition table lets move there', () => {
    const moves: [InstanceRule, InstanceStatus][] = [
      ['provisionable', 'PROVISIONING'],
      ['restorable', 'RESTORING'],
      ['suspendedOverStorage', 'SUSPENDED'],
      ['restartedByResize', 'RESTARTING'],
      ['rollbackable', 'RESTORING'],
      ['moduleChangeable', 'RESTORING'],
    ];
    for (const [rule, to] of moves)
      for (const status of statusesWhere(rule)) assert.ok(canTransition(status, to), `${rule}: ${status} -> ${to}`);
  });

  it('lets nothing but termination follow an ended instance, and counts only the terminated ones as released', () => {
    for (const status of statusesWhere('ended'))
      assert.ok(
        instanceStatuses.every((to) => !canTransition(status, to) || to === 'TERMINATED'),
        status,
      );
    assert.deepEqual(statusesWhere('released'), ['TERMINATED']);
    for (const rule of rules.filter((rule) => rule !== 'ended' && rule !== 'released' && rule !== 'reconciled'))
      assert.ok(!allows(rule, 'TERMINATING') && !allows(rule, 'TERMINATED'), `${rule} names an ended status`);
  });

  it('has the reconciler follow every instance waiting for a database, in flight, serving, stopped on purpose or terminating', () => {
    const followed = new Set<InstanceStatus>([
      ...instanceMoves.allocate.from,
      ...statusesWhere('inFlight'),
      ...statusesWhere('serving'),
      ...statusesWhere('stopped'),
      'TERMINATING',
    ]);
    assert.deepEqual(new Set(statusesWhere('reconciled')), followed);
    for (const status of ['FAILED', 'RESTORING', 'TERMINATED'] as const) assert.ok(!allows('reconciled', status), status);
  });

  it('keeps the scheduler’s sets apart: in flight or serving, never both', () => {
    assert.deepEqual(
      statusesWhere('inFlight').filter((status) => allows('serving', status)),
      [],
    );
  });

  it('measures storage for every instance from allocation until it goes', () => {
    assert.deepEqual(without('storageMeasured'), ['CREATING', 'WAITING_FOR_DATABASE', 'TERMINATING', 'TERMINATED']);
  });

  it('backs up on schedule, and copies to staging, only what a backup may be taken of', () => {
    assert.ok(isSubset('backedUpOnSchedule', 'backupable'));
    assert.ok(isSubset('stagingSource', 'backupable'));
    assert.ok(isSubset('moduleChangeable', 'backupable'), 'a module change starts with a FINAL backup');
  });

  it("resets an admin's password wherever the database is the tenant's own and stays: not replaced, suspended or going", () => {
    assert.deepEqual(without('adminPasswordResettable'), [
      'CREATING',
      'WAITING_FOR_DATABASE',
      'ALLOCATED',
      'SUSPENDED',
      'RESTORING',
      'TERMINATING',
      'TERMINATED',
    ]);
  });

  it('provisions from billing what provisionInstance starts, and what it allocates first', () => {
    assert.ok(isSubset('provisionable', 'provisionedByBilling'));
    assert.deepEqual(
      statusesWhere('provisionable').filter((status) => allows('provisioned', status)),
      [],
      'provisionInstance either starts an instance or leaves it as it is',
    );
  });
});
