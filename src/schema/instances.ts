import { desiredStates, instancePhases, instanceStatuses, type InstanceCondition, type InstancePhase } from '../db/schema.js';
import { allocateDatabase } from '../domain/allocation/allocation.js';
import { createInstance, listInstances, type InstancePage } from '../domain/instances/instances.js';
import { pagesOfInstanceEvents } from '../domain/instances/instance-events.js';
import { conditionList, latestReason } from '../domain/instances/instance-conditions.js';
import { offeredOdooVersions } from '../domain/instances/odoo-spec.js';
import { DomainError } from '../errors.js';
import { builder } from './builder.js';
import { adminOnly, adminOrCustomer, customerScope, ownedInstance, triggerOf } from './context.js';

const InstanceStatus = builder.enumType('InstanceStatus', { values: instanceStatuses });
const DesiredState = builder.enumType('DesiredState', {
  description: 'What was asked of an instance; its status says how far it got.',
  values: desiredStates.map((state) => state.toUpperCase()) as Uppercase<(typeof desiredStates)[number]>[],
});

const InstancePhase = builder.enumType('InstancePhase', {
  description: "A phase of an instance's life that can go wrong, each with a condition of its own.",
  values: Object.fromEntries(
    instancePhases.map((phase) => [phase.replace(/[A-Z]/g, (upper) => `_${upper}`).toUpperCase(), { value: phase }]),
  ),
});

const InstanceConditionType = builder.objectRef<InstanceCondition & { phase: InstancePhase }>('InstanceCondition').implement({
  description: 'What went wrong in one phase (allocation, initialisation, service, restore, module change, final backup), and since when.',
  fields: (t) => ({
    phase: t.field({ type: InstancePhase, resolve: (condition) => condition.phase }),
    reason: t.exposeString('reason'),
    since: t.field({ type: 'DateTime', resolve: (condition) => new Date(condition.since) }),
  }),
});

const InstanceEventConnection = builder.connectionObject({ type: 'InstanceEvent', name: 'InstanceEventConnection' });

builder.objectType('Instance', {
  description: "A tenant's Odoo: its record, where its database lives and how far provisioning got.",
  fields: (t) => ({
    id: t.exposeID('id'),
    customerId: t.exposeID('customer_id'),
    name: t.exposeString('name'),
    subdomain: t.exposeString('subdomain'),
    odooVersion: t.exposeString('odoo_version'),
    adminEmail: t.exposeString('admin_email'),
    subscriptionId: t.exposeString('subscription_id', { nullable: true }),
    cpuLimit: t.exposeFloat('cpu_limit'),
    memoryLimitMb: t.exposeInt('memory_limit_mb'),
    status: t.field({ type: InstanceStatus, resolve: (instance) => instance.status }),
    desired: t.field({
      type: DesiredState,
      description: 'What was asked (running, stopped, suspended by billing, terminated): the daemon drives the instance there.',
      resolve: (instance) => instance.desired.toUpperCase() as Uppercase<typeof instance.desired>,
    }),
    statusChangedAt: t.field({ type: 'DateTime', resolve: (instance) => instance.status_changed_at }),
    dbServerId: t.exposeID('db_server_id', { nullable: true }),
    dbHost: t.exposeString('db_host', { nullable: true }),
    dbPort: t.int({ nullable: true, resolve: (instance) => (instance.db_server_id ? instance.db_port : null) }),
    serviceName: t.exposeString('service_name', { nullable: true }),
    error: t.string({
      nullable: true,
      description: 'The reason of its newest condition: what went wrong last, or null when nothing is wrong.',
      resolve: (instance) => latestReason(instance.conditions),
    }),
    conditions: t.field({
      type: [InstanceConditionType],
      description: 'What is wrong with it, one condition per phase that went wrong, oldest first; empty when nothing is.',
      resolve: (instance) => conditionList(instance.conditions),
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (instance) => instance.created_at }),
    updatedAt: t.field({ type: 'DateTime', resolve: (instance) => instance.updated_at }),
    events: t.loadable({
      type: InstanceEventConnection,
      description: 'Every transition, trigger and failure, oldest first, `first` (1 to 1000) at a time.',
      args: {
        first: t.arg.int({ required: false, defaultValue: 100 }),
        after: t.arg.string({ required: false, description: "The previous page's `pageInfo.endCursor`." }),
      },
      complexity: ({ first }) => ({ field: 1, multiplier: Math.min(first ?? 100, 1000) }),
      // One loader per place in the query (and so per arguments): a page of instances reads its events at once.
      byPath: true,
      load: (instanceIds: string[], context, { first, after }) =>
        pagesOfInstanceEvents(context.deps, instanceIds, { first: first ?? 100, after }),
      resolve: (instance) => instance.id,
    }),
  }),
});

builder.objectType('InstanceEvent', {
  description: 'One thing that happened to an instance: a transition (from, to), a trigger or a failure.',
  fields: (t) => ({
    id: t.exposeID('id'),
    instanceId: t.exposeID('instance_id'),
    from: t.field({ type: InstanceStatus, nullable: true, resolve: (event) => event.from_status }),
    to: t.field({ type: InstanceStatus, nullable: true, resolve: (event) => event.to_status }),
    cause: t.exposeString('cause'),
    actor: t.exposeString('actor'),
    message: t.exposeString('message', { nullable: true }),
    at: t.field({ type: 'DateTime', resolve: (event) => event.created_at }),
  }),
});

builder.objectType('Allocation', {
  description: "Where an instance's database lives. The password is never returned: provisioning takes it from Redis.",
  fields: (t) => ({
    status: t.exposeString('status'),
    dbServerId: t.exposeID('dbServerId'),
    dbHost: t.exposeString('dbHost'),
    dbPort: t.exposeInt('dbPort'),
    dbName: t.exposeString('dbName'),
    dbUser: t.exposeString('dbUser'),
  }),
});

const InstanceConnection = builder.connectionObject<'Instance', Promise<InstancePage>>({
  type: 'Instance',
  name: 'InstanceConnection',
  fields: (t) => ({ totalCount: t.exposeInt('totalCount', { description: 'How many instances match, on every page.' }) }),
});

const CreateInstanceInput = builder.inputType('CreateInstanceInput', {
  fields: (t) => ({
    customerId: t.id({ required: true }),
    name: t.string({ required: true }),
    subdomain: t.string({ required: true }),
    odooVersion: t.string({ required: true }),
    adminEmail: t.string({ required: true }),
    subscriptionId: t.string({ required: false }),
    cpuLimit: t.float({ required: false, description: "CPU cores (admins only; default: the plan's)." }),
    memoryLimit: t.string({ required: false, description: "Memory such as 512M or 2G (admins only; default: the plan's)." }),
    fromBackupId: t.id({ required: false, description: "A backup of one of the customer's instances: loaded before the first start." }),
  }),
});

builder.queryFields((t) => ({
  odooVersions: t.stringList({
    description: 'The Odoo versions createInstance accepts as `odooVersion` (ODOO_IMAGES), in the order offered.',
    authScopes: adminOrCustomer,
    resolve: (_root, _args, context) => offeredOdooVersions(context.deps.config),
  }),
  instance: t.field({
    type: 'Instance',
    nullable: true,
    authScopes: adminOrCustomer,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, context) => ownedInstance(context, id),
  }),
  instances: t.field({
    type: InstanceConnection,
    description: 'Newest first, `first` (1 to 200) at a time. A customer sees its own instances only.',
    authScopes: adminOrCustomer,
    args: {
      status: t.arg({ type: InstanceStatus, required: false }),
      customerId: t.arg.id({ required: false }),
      first: t.arg.int({ required: false, defaultValue: 50 }),
      after: t.arg.string({ required: false, description: "The previous page's `pageInfo.endCursor`." }),
    },
    complexity: ({ first }) => ({ field: 1, multiplier: Math.min(first ?? 50, 200) }),
    resolve: (_root, args, context) =>
      listInstances(
        context.deps,
        { status: args.status, customerId: customerScope(context, args.customerId) },
        { first: args.first ?? 50, after: args.after },
      ),
  }),
}));

builder.mutationFields((t) => ({
  createInstance: t.field({
    type: 'Instance',
    description: 'Creates an instance and allocates its database at once (WAITING_FOR_DATABASE when no pool has room).',
    authScopes: adminOrCustomer,
    args: { input: t.arg({ type: CreateInstanceInput, required: true }) },
    resolve: (_root, { input }, context) => {
      // The plan decides a customer's resources; only an admin may override them for one instance.
      if (context.caller.kind === 'customer') {
        const field = input.cpuLimit != null ? 'cpuLimit' : input.memoryLimit != null ? 'memoryLimit' : null;
        if (field)
          throw new DomainError(
            'FORBIDDEN',
            `input.${field}: only admins may set an instance's limits; the subscription's plan decides them.`,
            `input.${field}`,
          );
      }
      return createInstance(
        context.deps,
        { ...input, customerId: customerScope(context, input.customerId) ?? input.customerId },
        triggerOf(context, 'createInstance'),
      );
    },
  }),
  allocateDatabase: t.field({
    type: 'Allocation',
    description: 'Allocates the instance a database on a pool, or returns the allocation it has.',
    authScopes: adminOnly,
    args: { instanceId: t.arg.id({ required: true }) },
    resolve: (_root, { instanceId }, context) => allocateDatabase(context.deps, instanceId, triggerOf(context, 'allocateDatabase')),
  }),
}));

builder.subscriptionFields((t) => ({
  instanceEvents: t.field({
    type: 'InstanceEvent',
    description: "The instance's events as they happen (GraphQL over SSE), from every daemon replica.",
    authScopes: adminOrCustomer,
    args: { instanceId: t.arg.id({ required: true }) },
    subscribe: async (_root, { instanceId }, context) => context.deps.events.subscribe((await ownedInstance(context, instanceId)).id),
    resolve: (event) => ({ ...event, created_at: new Date(event.created_at) }),
  }),
}));
