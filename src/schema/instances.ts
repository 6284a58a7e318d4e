import { instanceStatuses } from '../db/schema.js';
import { allocateDatabase } from '../domain/allocation.js';
import { createInstance, getInstance, listInstances } from '../domain/instances.js';
import { provisionInstance } from '../domain/provisioning.js';
import { terminateInstance } from '../domain/termination.js';
import { builder } from './builder.js';
import { requireAdmin } from './context.js';

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
  }),
});

builder.queryFields((t) => ({
  instance: t.field({
    type: 'Instance',
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, context) => {
      requireAdmin(context);
      return getInstance(context.deps, id);
    },
  }),
  instances: t.field({
    type: 'InstanceConnection',
    args: {
      status: t.arg({ type: InstanceStatus, required: false }),
      customerId: t.arg.id({ required: false }),
      first: t.arg.int({ required: false, defaultValue: 50 }),
      after: t.arg.string({ required: false }),
    },
    resolve: (_root, args, context) => {
      requireAdmin(context);
      return listInstances(context.deps, { status: args.status, customerId: args.customerId }, args.first ?? 50, args.after);
    },
  }),
}));

builder.mutationFields((t) => ({
  createInstance: t.field({
    type: 'Instance',
    description: 'Creates an instance and allocates its database at once (WAITING_FOR_DATABASE when no pool has room).',
    args: { input: t.arg({ type: CreateInstanceInput, required: true }) },
    resolve: (_root, { input }, context) => {
      requireAdmin(context);
      return createInstance(context.deps, input);
    },
  }),
  allocateDatabase: t.field({
    type: 'Allocation',
    description: 'Allocates the instance a database on a pool, or returns the allocation it has.',
    args: { instanceId: t.arg.id({ required: true }) },
    resolve: (_root, { instanceId }, context) => {
      requireAdmin(context);
      return allocateDatabase(context.deps, instanceId);
    },
  }),
  provisionInstance: t.field({
    type: 'Instance',
    description: 'Creates the Odoo service from the allocated database; the scheduler then follows it to RUNNING or FAILED.',
    args: { instanceId: t.arg.id({ required: true }) },
    resolve: (_root, { instanceId }, context) => {
      requireAdmin(context);
      return provisionInstance(context.deps, instanceId);
    },
  }),
  terminateInstance: t.field({
    type: 'Instance',
    description: 'Removes the service and secret, drops the database and role, and frees the pool slot and the subdomain.',
    args: { instanceId: t.arg.id({ required: true }) },
    resolve: (_root, { instanceId }, context) => {
      requireAdmin(context);
      return terminateInstance(context.deps, instanceId);
    },
  }),
}));
