import SchemaBuilder from '@pothos/core';
import type { Allocation } from '../domain/allocation.js';
import type { InstanceRow, PoolRow } from '../db/schema.js';
import type { InstancePage } from '../domain/instances.js';
import type { GraphQLContext } from './context.js';

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  Objects: {
    Pool: PoolRow;
    Instance: InstanceRow;
    Allocation: Allocation;
    InstanceConnection: InstancePage;
  };
  Scalars: {
    ID: { Input: string; Output: string };
    DateTime: { Input: Date; Output: Date };
  };
  DefaultFieldNullability: false;
}>({ defaultFieldNullability: false });

builder.scalarType('DateTime', {
  description: 'An ISO-8601 timestamp.',
  serialize: (value) => value.toISOString(),
  parseValue: (value) => {
    const date = new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new TypeError('DateTime must be an ISO-8601 timestamp');
    return date;
  },
});

builder.queryType({});
builder.mutationType({});
