import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InstanceStatus } from '../../src/db/schema.js';
import { allocationDue } from '../../src/domain/allocation/waiting-allocations.js';
import { RESERVATION_LEASE_MS } from '../../src/domain/allocation/slot-reservation.js';

describe('when allocation is the reconciler’s to make', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  const ago = (ms: number) => new Date(now.getTime() - ms);
  const row = (
    status: InstanceStatus,
    db_allocation: 'reserved' | 'ready' | null,
    db_reserved_until: Date | null = null,
    status_changed_at = ago(1000),
  ) => ({ status, db_allocation, db_reserved_until, status_changed_at });

  it('is due for an instance waiting for room, at once', () => {
    assert.equal(allocationDue(row('WAITING_FOR_DATABASE', null), now), true);
  });

  it("is due once the call that began it is gone: a reservation's lease ran out, or a lease passed with none", () => {
    assert.equal(allocationDue(row('CREATING', 'reserved', ago(1)), now), true);
    assert.equal(allocationDue(row('WAITING_FOR_DATABASE', 'reserved', ago(1)), now), true);
    assert.equal(allocationDue(row('CREATING', null, null, ago(RESERVATION_LEASE_MS + 1)), now), true);
  });

  it('is not due while that call may still be at work, once allocated, or for any other status', () => {
    assert.equal(allocationDue(row('CREATING', 'reserved', new Date(now.getTime() + 1)), now), false);
    assert.equal(allocationDue(row('CREATING', null, null, ago(RESERVATION_LEASE_MS - 1)), now), false);
    assert.equal(allocationDue(row('CREATING', 'ready'), now), false);
    for (const status of ['ALLOCATED', 'PROVISIONING', 'FAILED', 'TERMINATING'] as const)
      assert.equal(allocationDue(row(status, null, null, ago(10 * RESERVATION_LEASE_MS)), now), false, status);
  });
});
