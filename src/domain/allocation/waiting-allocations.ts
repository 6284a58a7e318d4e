import type { InstanceRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { DomainError } from '../../errors.js';
import { allocateInstance } from './allocation.js';
import { scheduler } from '../instances/instance-events.js';
import { RESERVATION_LEASE_MS } from './slot-reservation.js';

/**
 * Pure: allocation is the reconciler's to make: the instance waits for a pool with room, or the call that began
 * allocating it is gone (a daemon killed mid-way): its reservation's lease ran out, or, with no slot reserved yet, as
 * long as a lease has passed since it was created.
 */
export function allocationDue(
  instance: Pick<InstanceRow, 'status' | 'db_allocation' | 'db_reserved_until' | 'status_changed_at'>,
  now: Date,
): boolean {
  if (instance.status !== 'CREATING' && instance.status !== 'WAITING_FOR_DATABASE') return false;
  if (instance.db_allocation === 'reserved') return instance.db_reserved_until! < now;
  if (instance.db_allocation !== null) return false;
  return instance.status === 'WAITING_FOR_DATABASE' || instance.status_changed_at.getTime() + RESERVATION_LEASE_MS < now.getTime();
}

/**
 * Allocates an instance whose allocation is due (or finishes or releases a reservation its caller left). False when
 * no pool had room: the instance waits, and so do those after it in this tick.
 */
export async function allocateDue(deps: Deps, instance: InstanceRow): Promise<boolean> {
  try {
    await allocateInstance(deps, instance.id, scheduler('allocation-retry'));
    return true;
  } catch (error) {
    if (error instanceof DomainError && error.code === 'NO_POOL_CAPACITY') return false;
    throw error;
  }
}
