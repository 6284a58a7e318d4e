import type { InstanceRow, InstanceStatus } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { DomainError } from '../errors.js';
import { KillbillError } from './killbill-client.js';

export type LinkedInstance = Pick<InstanceRow, 'id' | 'status' | 'subscription_id'>;

/** Gone or going: nothing billing asks for applies to them any more. */
const ended: InstanceStatus[] = ['TERMINATING', 'TERMINATED'];

/** The live instances sold under these subscriptions, oldest first. */
export async function linkedInstances(deps: Pick<Deps, 'db'>, subscriptionIds: string[]): Promise<LinkedInstance[]> {
  if (subscriptionIds.length === 0) return [];
  return deps.db
    .selectFrom('instances')
    .select(['id', 'status', 'subscription_id'])
    .where('subscription_id', 'in', subscriptionIds)
    .where('status', 'not in', ended)
    .orderBy('created_at')
    .execute();
}

/** One action applied to several instances: each is tried, and the failures are reported together. */
export async function forEachInstance(
  instances: LinkedInstance[],
  action: (instanceId: string) => Promise<Pick<InstanceRow, 'status'>>,
): Promise<{ done: string[]; failed: string[] }> {
  const done: string[] = [];
  const failed: string[] = [];
  for (const instance of instances) {
    try {
      const after = await action(instance.id);
      done.push(`${instance.id} ${after.status}`);
    } catch (error) {
      failed.push(`instance ${instance.id}: ${describeError(error)}`);
    }
  }
  return { done, failed };
}

/** A line for `last_error`: the code and message of errors we raise (safe to show), the message of others. */
export function describeError(error: unknown): string {
  if (error instanceof DomainError || error instanceof KillbillError) return `${error.code}: ${error.message}`;
  const message = error instanceof Error ? error.message : String(error);
  return message.slice(0, 500);
}
