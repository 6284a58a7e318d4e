import { billingEventStatuses, type BillingEventRow } from '../db/schema.js';
import { getBillingEvent, listBillingEvents, reopenBillingEvent } from '../billing/events.js';
import { processBillingEvent } from '../billing/processor.js';
import { builder, upperCaseValues } from './builder.js';
import { adminOnly } from './context.js';

const BillingEventStatus = builder.enumType('BillingEventStatus', { values: upperCaseValues(billingEventStatuses) });

const BillingEvent = builder.objectRef<BillingEventRow>('BillingEvent').implement({
  description: 'A Kill Bill delivery as recorded: what it was, what processing did, and what still fails (retried by the scheduler).',
  fields: (t) => ({
    id: t.exposeID('id'),
    eventType: t.exposeString('event_type'),
    objectType: t.exposeString('object_type'),
    objectId: t.exposeString('object_id', { nullable: true }),
    accountId: t.exposeString('account_id', { nullable: true }),
    status: t.field({ type: BillingEventStatus, resolve: (event) => event.status }),
    attempts: t.exposeInt('attempts'),
    lastError: t.exposeString('last_error', { nullable: true }),
    outcome: t.exposeString('outcome', { nullable: true }),
    nextAttemptAt: t.field({ type: 'DateTime', nullable: true, resolve: (event) => event.next_attempt_at }),
    receivedAt: t.field({ type: 'DateTime', resolve: (event) => event.received_at }),
    processedAt: t.field({ type: 'DateTime', nullable: true, resolve: (event) => event.processed_at }),
  }),
});

const BillingEventConnection = builder.connectionObject({ type: BillingEvent, name: 'BillingEventConnection' });

builder.queryFields((t) => ({
  billingEvents: t.field({
    type: BillingEventConnection,
    description: 'Newest first, `first` (1 to 200) at a time; filter by status to see what is failing.',
    authScopes: adminOnly,
    args: {
      status: t.arg({ type: BillingEventStatus, required: false }),
      first: t.arg.int({ required: false, defaultValue: 50 }),
      after: t.arg.string({ required: false, description: "The previous page's `pageInfo.endCursor`." }),
    },
    complexity: ({ first }) => ({ field: 1, multiplier: Math.min(first ?? 50, 200) }),
    resolve: (_root, { status, first, after }, context) => listBillingEvents(context.deps, { status }, { first: first ?? 50, after }),
  }),
}));

builder.mutationFields((t) => ({
  retryBillingEvent: t.field({
    type: BillingEvent,
    description: 'Tries an abandoned, failed or ignored event again now, with a fresh count of tries; returns how it ended.',
    authScopes: adminOnly,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, context) => {
      await reopenBillingEvent(context.deps, id);
      return (await processBillingEvent(context.deps, id)) ?? (await getBillingEvent(context.deps, id))!;
    },
  }),
}));
