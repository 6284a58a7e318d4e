import type { InstanceRow } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { getInstance } from '../domain/instances/instances.js';
import type { Trigger } from '../domain/instances/instance-events.js';
import { DomainError, notFound } from '../errors.js';
import { actorOf, type Caller } from '../access/caller.js';

export interface GraphQLContext {
  deps: Deps;
  caller: Caller;
}

export const adminOnly = { admin: true } as const;
export const adminOrCustomer = { admin: true, customer: true } as const;

export const triggerOf = (context: GraphQLContext, cause: string): Trigger => ({ cause, actor: actorOf(context.caller) });

/**
 * The instance, if this caller may see and act on it: admins any, customers their own. Another customer's instance
 * is NOT_FOUND, as one that does not exist: a customer cannot tell whether it does.
 */
export async function ownedInstance(context: GraphQLContext, instanceId: string): Promise<InstanceRow> {
  const instance = await getInstance(context.deps, instanceId);
  if (context.caller.kind === 'customer' && instance.customer_id !== context.caller.customerId) throw notFound('Instance', instanceId);
  return instance;
}

/** A customer acts for itself only: the customer id it names, if any, must be its own. */
export function customerScope(context: GraphQLContext, customerId: string | null | undefined): string | null | undefined {
  if (context.caller.kind !== 'customer') return customerId;
  if (customerId && customerId.toLowerCase() !== context.caller.customerId) {
    throw new DomainError('FORBIDDEN', 'A customer token acts for its own customer id only.');
  }
  return context.caller.customerId;
}
