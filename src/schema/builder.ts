import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import type { InstanceEventRow, InstanceRow, PoolRow } from '../db/schema.js';
import type { Allocation } from '../domain/allocation/allocation.js';
import { DomainError } from '../errors.js';
import type { GraphQLContext } from './context.js';

const pageItems = { field: 1, multiplier: 1 };

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  AuthScopes: { admin: boolean; customer: boolean };
  Objects: {
    Pool: PoolRow;
    Instance: InstanceRow;
    Allocation: Allocation;
    InstanceEvent: InstanceEventRow;
  };
  Scalars: {
    ID: { Input: string; Output: string };
    DateTime: { Input: Date; Output: Date };
  };
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
}>({
  defaultFieldNullability: false,
  plugins: [ScopeAuthPlugin, ComplexityPlugin, RelayPlugin, DataloaderPlugin],
  // Relay's connection shape for paginated lists, nothing else of it: our ids are the plain UUIDs, not global ids.
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    // A page's `first` multiplies what is selected under it (on the list field): its edges and nodes count once.
    edgesFieldOptions: { complexity: pageItems },
    nodesOnConnection: { complexity: pageItems },
  },
  // A list costs what it may return: a page's `first` multiplies what is selected under it.
  complexity: {
    defaultComplexity: 1,
    defaultListMultiplier: 10,
    limit: (context) =>
      context.caller.kind === 'admin' ? { complexity: 100_000, depth: 10, breadth: 200 } : { complexity: 5_000, depth: 8, breadth: 60 },
    complexityError: (_kind, result) =>
      new DomainError(
        'VALIDATION_FAILED',
        `query: costs ${result.complexity} (at most ${result.maxComplexity}), depth ${result.depth} (at most ${result.maxDepth}), breadth ${result.breadth} (at most ${result.maxBreadth}); ask for fewer items or fields`,
        'query',
      ),
  },
  scopeAuth: {
    authScopes: (context) => ({ admin: context.caller.kind === 'admin', customer: context.caller.kind === 'customer' }),
    authorizeOnSubscribe: true,
    unauthorizedError: (_parent, context) =>
      context.caller.kind === 'anonymous'
        ? new DomainError('UNAUTHENTICATED', 'A bearer token is required: the admin token, or a customer token from the frontend.')
        : new DomainError('FORBIDDEN', 'This operation is for admins only.'),
  },
});

builder.scalarType('DateTime', {
  description: 'An ISO-8601 timestamp.',
  serialize: (value) => (value instanceof Date ? value : new Date(value)).toISOString(),
  parseValue: (value) => {
    const date = new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new TypeError('DateTime must be an ISO-8601 timestamp');
    return date;
  },
});

/** Every root field states who may call it; none is open to anonymous callers. */
builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

/** GraphQL enum values for lower-case database values: `active` is served as ACTIVE. */
export const upperCaseValues = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((value) => [value.toUpperCase(), { value }])) as Record<Uppercase<T>, { value: T }>;
