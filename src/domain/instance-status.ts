import type { InstanceStatus } from '../db/schema.js';

/** Which status may follow which: the one place that decides whether a transition is legal. */
const next: Record<InstanceStatus, readonly InstanceStatus[]> = {
  CREATING: ['WAITING_FOR_DATABASE', 'ALLOCATED', 'FAILED', 'TERMINATING'],
  WAITING_FOR_DATABASE: ['ALLOCATED', 'FAILED', 'TERMINATING'],
  ALLOCATED: ['PROVISIONING', 'RESTORING', 'FAILED', 'TERMINATING'],
  PROVISIONING: ['RUNNING', 'FAILED', 'TERMINATING'],
  RUNNING: ['DEGRADED', 'STOPPING', 'RESTARTING', 'SUSPENDED', 'RESTORING', 'FAILED', 'TERMINATING'],
  DEGRADED: ['RUNNING', 'STOPPING', 'RESTARTING', 'SUSPENDED', 'RESTORING', 'FAILED', 'TERMINATING'],
  STOPPING: ['STOPPED', 'SUSPENDED', 'FAILED', 'TERMINATING'],
  STOPPED: ['STARTING', 'SUSPENDED', 'RESTORING', 'TERMINATING'],
  STARTING: ['RUNNING', 'SUSPENDED', 'FAILED', 'TERMINATING'],
  RESTARTING: ['RUNNING', 'SUSPENDED', 'FAILED', 'TERMINATING'],
  SUSPENDED: ['STARTING', 'TERMINATING'],
  // Its data is being replaced from a backup (or, for a new instance, loaded): back to where it was when done.
  RESTORING: ['STARTING', 'STOPPED', 'ALLOCATED', 'RUNNING', 'FAILED', 'TERMINATING'],
  FAILED: ['PROVISIONING', 'RESTARTING', 'SUSPENDED', 'RESTORING', 'TERMINATING'],
  TERMINATING: ['TERMINATED'],
  TERMINATED: [],
};

export const canTransition = (from: InstanceStatus, to: InstanceStatus): boolean => next[from].includes(to);

/** The statuses an instance may be in for a move to `to`. */
export const statusesBefore = (to: InstanceStatus): InstanceStatus[] =>
  (Object.keys(next) as InstanceStatus[]).filter((from) => canTransition(from, to));

export const isAllocated = (instance: { db_server_id: string | null }): boolean => instance.db_server_id !== null;

/** Statuses the scheduler follows until Docker shows their end state. */
export const inFlightStatuses: InstanceStatus[] = ['PROVISIONING', 'STARTING', 'RESTARTING', 'STOPPING'];
