import type { InstanceRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { scheduler } from './instance-events.js';
import { allows } from './instance-policy.js';
import { terminateInstance } from './termination.js';

/** Why an instance is terminated once its time is up, by the column that says when. */
const deadlines = {
  purge_at: { cause: 'purge', event: 'instance.purged', message: 'grace period over: instance terminated' },
  staging_expires_at: { cause: 'staging-expiry', event: 'staging.expired', message: 'staging copy expired: instance terminated' },
} as const;

export type Deadline = keyof typeof deadlines;

export const deadlineColumns = Object.keys(deadlines) as Deadline[];

/**
 * Pure: the deadline that has passed for an instance not yet ended (its cancelled subscription's grace period, or its
 * staging copy's time), or null.
 */
export function passedDeadline(instance: Pick<InstanceRow, 'status' | Deadline>, now: Date): Deadline | null {
  if (allows('ended', instance.status)) return null;
  return deadlineColumns.find((column) => (instance[column]?.getTime() ?? Infinity) <= now.getTime()) ?? null;
}

/** Terminates an instance whose time is up (a FINAL backup first, as for any termination), by its deadline's cause. */
export async function terminateAtDeadline(deps: Deps, instance: InstanceRow, deadline: Deadline): Promise<void> {
  const { cause, event, message } = deadlines[deadline];
  await terminateInstance(deps, instance.id, scheduler(cause));
  deps.log.info({ event, instanceId: instance.id }, message);
}
