import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { poolStatuses, type PoolStatus } from '../../src/db/schema.js';
import {
  adjustableStatuses,
  canMovePool,
  capacityStatus,
  healthAfterFailures,
  statusAfterSettings,
} from '../../src/domain/pools/pool-state.js';

const statusesAfter = (from: PoolStatus) => poolStatuses.filter((to) => to !== from && canMovePool(from, to));
const poolStatusesBefore = (to: PoolStatus) => poolStatuses.filter((from) => from !== to && canMovePool(from, to));

describe('pool transitions', () => {
  it('reaches every status from the ones a pool starts in (provisioning when made, active when registered)', () => {
    const reached = new Set<PoolStatus>(['provisioning', 'active']);
    for (let grown = true; grown;) {
      const before = reached.size;
      for (const from of [...reached]) for (const to of statusesAfter(from)) reached.add(to);
      grown = reached.size > before;
    }
    assert.deepEqual([...reached].sort(), [...poolStatuses].sort());
  });

  it('lets a provisioned pool go into service or fail, and only an error pool be provisioned again', () => {
    assert.deepEqual(statusesAfter('provisioning'), ['active', 'full', 'error', 'decommissioned']);
    assert.deepEqual(poolStatusesBefore('provisioning'), ['error']);
    assert.deepEqual(poolStatusesBefore('error'), ['provisioning']);
  });

  it('moves a pool in service between active and full, and into maintenance, never back to provisioning', () => {
    assert.deepEqual(statusesAfter('active'), ['full', 'maintenance', 'decommissioned']);
    assert.deepEqual(statusesAfter('full'), ['active', 'maintenance']);
    assert.deepEqual(statusesAfter('maintenance'), ['active', 'full', 'decommissioned']);
  });

  it('lets an error pool recover into service when it answers again', () => {
    assert.equal(canMovePool('error', 'active'), true);
    assert.equal(canMovePool('error', 'full'), true);
  });

  it('ends with decommissioned: nothing follows it', () => {
    assert.deepEqual(statusesAfter('decommissioned'), []);
    assert.deepEqual(poolStatusesBefore('decommissioned'), ['provisioning', 'active', 'maintenance', 'error']);
  });

  it('lets an admin change settings only where the status follows by capacity or maintenance', () => {
    for (const from of adjustableStatuses) {
      for (const maintenance of [true, false, null]) {
        for (const [current, max] of [
          [0, 1],
          [1, 1],
          [2, 4],
        ] as const) {
          const to = statusAfterSettings({ status: from, current_instances: current }, max, maintenance);
          assert.equal(canMovePool(from, to), true, `${from} -> ${to}`);
        }
      }
    }
  });
});

describe('capacity rule', () => {
  it('reads full when a pool holds as many instances as it may, else active', () => {
    assert.equal(capacityStatus(0, 1), 'active');
    assert.equal(capacityStatus(4, 5), 'active');
    assert.equal(capacityStatus(5, 5), 'full');
    assert.equal(capacityStatus(6, 5), 'full');
  });

  it('follows a new capacity, and maintenance, as an admin changes them', () => {
    assert.equal(statusAfterSettings({ status: 'active', current_instances: 2 }, 2, null), 'full');
    assert.equal(statusAfterSettings({ status: 'full', current_instances: 2 }, 4, undefined), 'active');
    assert.equal(statusAfterSettings({ status: 'full', current_instances: 2 }, 4, true), 'maintenance');
    assert.equal(statusAfterSettings({ status: 'maintenance', current_instances: 2 }, 4, null), 'maintenance', 'stays until taken out');
    assert.equal(statusAfterSettings({ status: 'maintenance', current_instances: 2 }, 2, false), 'full');
    assert.equal(statusAfterSettings({ status: 'maintenance', current_instances: 1 }, 2, false), 'active');
    assert.equal(statusAfterSettings({ status: 'error', current_instances: 0 }, 3, false), 'error', 'error waits for the pool to answer');
  });

  it('counts failed probes in a row: degraded first, unhealthy from the threshold on', () => {
    assert.equal(healthAfterFailures(1, 3), 'degraded');
    assert.equal(healthAfterFailures(2, 3), 'degraded');
    assert.equal(healthAfterFailures(3, 3), 'unhealthy');
    assert.equal(healthAfterFailures(1, 1), 'unhealthy');
  });
});
