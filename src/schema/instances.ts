import { instanceStatuses } from '../db/schema.js';
import { allocateDatabase } from '../domain/allocation.js';
import { createInstance, listInstances } from '../domain/instances.js';
import { provisionInstance } from '../domain/provisioning.js';
import { terminateInstance } from '../domain/termination.js';
import { listInstanceEvents } from '../domain/instance-events.js';
import { restartInstance, startInstance, stopInstance } from '../domain/lifecycle.js';
import { builder } from './builder.js';
import { adminOnly, adminOrCustomer, customerScope, ownedInstance, triggerOf } from './context.js';

const InstanceStatus = builder.enumType('InstanceStatus', { values: instanceStatuses });

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
    statusChangedAt: t.field({ type: 'DateTime', resolve: (instance) => instance.status_changed_at }),
    dbServerId: t.exposeID('db_server_id', { nullable: true }),
    dbHost: t.exposeString('db_host', { nullable: true }),
    dbPort: t.int({ nullable: true, resolve: (instance) => (instance.db_server_id ? instance.db_port : null) }),
    serviceName: t.exposeString('service_name', { nullable: true }),
    error: t.exposeString('error', { nullable: true }),
    createdAt: t.field({ type: 'DateTime', resolve: (instance) => instance.created_at }),
    updatedAt: t.field({ type: 'DateTime', resolve: (instance) => instance.updated_at }),
    events: t.field({
      type: ['InstanceEvent'],
      description: 'Every transition, trigger and failure, oldest first.',
      args: { first: t.arg.int({ required: false, defaultValue: 100 }) },
      resolve: (instance, { first }, context) => listInstanceEvents(context.deps, instance.id, Math.min(first ?? 100, 1000)),
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

builder.objectType('InstanceConnection', {
  fields: (t) => ({
    nodes: t.field({ type: ['Instance'], resolve: (page) => page.nodes }),
    totalCount: t.exposeInt('totalCount'),
    endCursor: t.exposeString('endCursor', { nullable: true }),
    hasNextPage: t.exposeBoolean('hasNextPage'),
  }),
});

const CreateInstanceInput = builder.inputType('CreateInstanceInput', {
  fields: (t) => ({
    customerId: t.id({ required: true }),
    name: t.string({ required: true }),
    subdomain: t.string({ required: true }),
    odooVersion: t.string({ required: true }),
    adminEmail: t.string({ required: true }),
    subscriptionId: t.string({ required: false }),
    cpuLimit: t.float({ required: false, description: 'CPU cores (default 1).' }),
    memoryLimit: t.string({ required: false, description: 'Memory such as 512M or 2G (default 1G).' }),
    fromBackupId: t.id({ required: false, description: "A backup of one of the customer's instances: loaded before the first start." }),
  }),
});

builder.queryFields((t) => ({
  instance: t.field({
    type: 'Instance',
    nullable: true,
    authScopes: adminOrCustomer,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, context) => ownedInstance(context, id),
  }),
  instances: t.field({
    type: 'InstanceConnection',
    description: 'Newest first. A customer sees its own instances only.',
    authScopes: adminOrCustomer,
    args: {
      status: t.arg({ type: InstanceStatus, required: false }),
      customerId: t.arg.id({ required: false }),
      first: t.arg.int({ required: false, defaultValue: 50 }),
      after: t.arg.string({ required: false }),
    },
    resolve: (_root, args, context) =>
      listInstances(context.deps, { status: args.status, customerId: customerScope(context, args.customerId) }, args.first ?? 50, args.after),
  }),
}));

builder.mutationFields((t) => ({
  createInstance: t.field({
    type: 'Instance',
    description: 'Creates an instance and allocates its database at once (WAITING_FOR_DATABASE when no pool has room).',
    authScopes: adminOrCustomer,
    args: { input: t.arg({ type: CreateInstanceInput, required: true }) },
    resolve: (_root, { input }, context) =>
      createInstance(context.deps, { ...input, customerId: customerScope(context, input.customerId) ?? input.customerId }, triggerOf(context, 'createInstance')),
  }),
  allocateDatabase: t.field({
    type: 'Allocation',
    description: 'Allocates the instance a database on a pool, or returns the allocation it has.',
    authScopes: adminOnly,
    args: { instanceId: t.arg.id({ required: true }) },
    resolve: (_root, { instanceId }, context) => allocateDatabase(context.deps, instanceId, triggerOf(context, 'allocateDatabase')),
  }),
  provisionInstance: t.field({
    type: 'Instance',
    description: 'Creates the Odoo service from the allocated database; the scheduler then follows it to RUNNING or FAILED.',
    authScopes: adminOnly,
    args: { instanceId: t.arg.id({ required: true }) },
    resolve: (_root, { instanceId }, context) => provisionInstance(context.deps, instanceId, triggerOf(context, 'provisionInstance')),
  }),
  stopInstance: t.field({
    type: 'Instance',
    description: 'STOPPING, then STOPPED once no task runs.',
    authScopes: adminOrCustomer,
    args: { instanceId: t.arg.id({ required: true }) },
    resolve: async (_root, { instanceId }, context) => stopInstance(context.deps, (await ownedInstance(context, instanceId)).id, triggerOf(context, 'stopInstance')),
  }),
  startInstance: t.field({
    type: 'Instance',
    description: 'STARTING, then RUNNING once its task runs (healthy).',
    authScopes: adminOrCustomer,
    args: { instanceId: t.arg.id({ required: true }) },
    resolve: async (_root, { instanceId }, context) => startInstance(context.deps, (await ownedInstance(context, instanceId)).id, triggerOf(context, 'startInstance')),
  }),
  restartInstance: t.field({
    type: 'Instance',
    description: 'RESTARTING, then RUNNING once a fresh task runs.',
    authScopes: adminOrCustomer,
    args: { instanceId: t.arg.id({ required: true }) },
    resolve: async (_root, { instanceId }, context) =>
      restartInstance(context.deps, (await ownedInstance(context, instanceId)).id, triggerOf(context, 'restartInstance')),
  }),
  terminateInstance: t.field({
    type: 'Instance',
    description: 'Removes the service and secret, drops the database and role, and frees the pool slot and the subdomain.',
    authScopes: adminOrCustomer,
    args: { instanceId: t.arg.id({ required: true }) },
    resolve: async (_root, { instanceId }, context) =>
      terminateInstance(context.deps, (await ownedInstance(context, instanceId)).id, triggerOf(context, 'terminateInstance')),
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
