import type { Deps } from '../deps.js';
import { DomainError } from '../errors.js';
import type { Caller } from '../http/auth.js';

export interface GraphQLContext {
  deps: Deps;
  caller: Caller;
}

export function requireAdmin(context: GraphQLContext): void {
  if (context.caller.kind !== 'admin') {
    throw new DomainError('UNAUTHENTICATED', 'An admin bearer token is required (Authorization: Bearer <token>).');
  }
}
