import type { InstanceStatus } from '../db/schema.js';

/** Which status may follow which: the one place that decides whether a transition is legal. */
const next: Record<InstanceStatus, readonly InstanceStatus[]> = {
  CREATING: ['WAITING_FOR_DATABASE', 'ALLOCATED', 'FAILED', 'TERMINATED'],
  WAITING_FOR_DATABASE: ['ALLOCATED', 'FAILED', 'TERMINATED'],
  ALLOCATED: ['PROVISIONING', 'FAILED', 'TERMINATED'],
  PROVISIONING: ['RUNNING', 'FAILED', 'TERMINATED'],
  RUNNING: ['STOPPED', 'FAILED', 'PROVISIONING', 'TERMINATED'],
  STOPPED: ['RUNNING', 'PROVISIONING', 'TERMINATED'],
  FAILED: ['PROVISIONING', 'TERMINATED'],
  TERMINATED: [],
};

export const canTransition = (from: InstanceStatus, to: InstanceStatus): boolean => next[from].includes(to);

/** The statuses an instance may be in for a move to `to`. */
export const statusesBefore = (to: InstanceStatus): InstanceStatus[] =>
  (Object.keys(next) as InstanceStatus[]).filter((from) => canTransition(from, to));

export const isAllocated = (instance: { db_server_id: string | null }): boolean => instance.db_server_id !== null;
