import type { InstanceStatus } from '../../db/schema.js';

/**
 * Which status may follow which: the one place that decides whether a transition is legal (docs/states.md is drawn from
 * it: `npm run docs:states`).
 */
export const instanceTransitions: Readonly<Record<InstanceStatus, readonly InstanceStatus[]>> = {
  CREATING: ['WAITING_FOR_DATABASE', 'ALLOCATED', 'FAILED', 'TERMINATING'],
  WAITING_FOR_DATABASE: ['ALLOCATED', 'FAILED', 'TERMINATING'],
  ALLOCATED: ['PROVISIONING', 'RESTORING', 'FAILED', 'TERMINATING'],
  PROVISIONING: ['RUNNING', 'FAILED', 'TERMINATING'],
  RUNNING: ['DEGRADED', 'STOPPING', 'RESTARTING', 'SUSPENDED', 'RESTORING', 'FAILED', 'TERMINATING'],
  // Its task is not running while Swarm restarts it: back to RUNNING when it runs, FAILED when Swarm gives up.
  DEGRADED: ['RUNNING', 'STOPPING', 'RESTARTING', 'SUSPENDED', 'RESTORING', 'FAILED', 'TERMINATING'],
  STOPPING: ['STOPPED', 'SUSPENDED', 'FAILED', 'TERMINATING'],
  STOPPED: ['STARTING', 'SUSPENDED', 'RESTORING', 'TERMINATING'],
  STARTING: ['RUNNING', 'SUSPENDED', 'FAILED', 'TERMINATING'],
  RESTARTING: ['RUNNING', 'SUSPENDED', 'FAILED', 'TERMINATING'],
  // Billing stopped it (scaled to 0; database, secret and filestore kept): only resuming or the purge ends it.
  SUSPENDED: ['STARTING', 'TERMINATING'],
  // Its data is being replaced from a backup (or, for a new instance, loaded): back to where it was when done, or
  // SUSPENDED when billing asked for it meanwhile.
  RESTORING: ['STARTING', 'STOPPED', 'ALLOCATED', 'RUNNING', 'SUSPENDED', 'FAILED', 'TERMINATING'],
  FAILED: ['PROVISIONING', 'RESTARTING', 'SUSPENDED', 'RESTORING', 'TERMINATING'],
  TERMINATING: ['TERMINATED'],
  TERMINATED: [],
};

export const canTransition = (from: InstanceStatus, to: InstanceStatus): boolean => instanceTransitions[from].includes(to);

/** The statuses an instance may be in for a move to `to`. */
export const statusesBefore = (to: InstanceStatus): InstanceStatus[] =>
  (Object.keys(instanceTransitions) as InstanceStatus[]).filter((from) => canTransition(from, to));

/** A reserved slot is not an allocation yet: its role and database may still be in the making. */
export const isAllocated = (instance: { db_allocation: 'reserved' | 'ready' | null }): boolean => instance.db_allocation === 'ready';
