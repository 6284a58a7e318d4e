import type { InstanceStatus } from '../db/schema.js';

/** Which status may follow which: the one place that decides whether a transition is legal. */
const next: Record<InstanceStatus, readonly InstanceStatus[]> = {
  CREATING: ['WAITING_FOR_DATABASE', 'ALLOCATED', 'FAILED', 'TERMINATING'],
  WAITING_FOR_DATABASE: ['ALLOCATED', 'FAILED', 'TERMINATING'],
  ALLOCATED: ['PROVISIONING', 'FAILED', 'TERMINATING'],
  PROVISIONING: ['RUNNING', 'FAILED', 'TERMINATING'],
  RUNNING: ['STOPPING', 'RESTARTING', 'FAILED', 'TERMINATING'],
  STOPPING: ['STOPPED', 'FAILED', 'TERMINATING'],
  STOPPED: ['STARTING', 'TERMINATING'],
  STARTING: ['RUNNING', 'FAILED', 'TERMINATING'],
  RESTARTING: ['RUNNING', 'FAILED', 'TERMINATING'],
  FAILED: ['PROVISIONING', 'TERMINATING'],
  TERMINATING: ['TERMINATED'],
  TERMINATED: [],
};

export const canTransition = (from: InstanceStatus, to: InstanceStatus): boolean => next[from].includes(to);

/** The statuses an instance may be in for a move to `to`. */
export const statusesBefore = (to: InstanceStatus): InstanceStatus[] =>
  (Object.keys(next) as InstanceStatus[]).filter((from) => canTransition(from, to));

/** A reserved slot is not an allocation yet: its role and database may still be in the making. */
export const isAllocated = (instance: { db_allocation: 'reserved' | 'ready' | null }): boolean => instance.db_allocation === 'ready';

/** Statuses the scheduler follows until Docker shows their end state. */
export const inFlightStatuses: InstanceStatus[] = ['PROVISIONING', 'STARTING', 'RESTARTING', 'STOPPING'];
