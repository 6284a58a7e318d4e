import type { InstanceRow } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { statusesWhere } from '../domain/instances/instance-policy.js';
import { isUuid } from '../domain/names.js';
import { DomainError } from '../errors.js';
import { KillbillError } from '../killbill/client.js';

export type LinkedInstance = Pick<InstanceRow, 'id' | 'status' | 'subscription_id' | 'purge_at'>;

/**
 * The live instances sold under these subscriptions to `customerId` (the account's owner), oldest first: an
 * instance some other customer linked is never touched. Ids compare case-insensitively (stored lower-case).
 */
export async function linkedInstances(
  deps: Pick<Deps, 'db'>,
  subscriptionIds: string[],
  customerId: string | null,
): Promise<LinkedInstance[]> {
  // An account whose externalKey is no customer id of ours pays for no instance.
  if (subscriptionIds.length === 0 || !customerId || !isUuid(customerId)) return [];
  return deps.db
    .selectFrom('instances')
    .select(['id', 'status', 'subscription_id', 'purge_at'])
    .where(
      'subscription_id',
      'in',
      subscriptionIds.map((id) => id.toLowerCase()),
    )
    .where('customer_id', '=', customerId)
    .where('status', 'not in', statusesWhere('ended'))
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
