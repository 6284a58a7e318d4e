import { moduleChangeStatuses, type ModuleChangeRow } from '../db/schema.js';
import { changeModules } from '../domain/modules/module-changes.js';
import { installedModules } from '../domain/modules/tenant-modules.js';
import { builder } from './builder.js';
import { adminOrCustomer, ownedInstance, triggerOf } from './context.js';

const ModuleChangeStatus = builder.enumType('ModuleChangeStatus', { values: moduleChangeStatuses });

const ModuleChange = builder.objectRef<ModuleChangeRow>('ModuleChange').implement({
  description: 'Modules installed or updated on one tenant, with a FINAL backup first and a rollback from it on failure.',
  fields: (t) => ({
    id: t.exposeID('id'),
    kind: t.exposeString('kind', { description: '`install` (odoo -i), `update` (odoo -u), or `rollout` (odoo -u all on a new build).' }),
    modules: t.exposeStringList('modules'),
    image: t.exposeString('image', { nullable: true, description: "A rollout's new image." }),
    status: t.field({ type: ModuleChangeStatus, resolve: (change) => change.status }),
    finalBackupId: t.exposeID('final_backup_id', { nullable: true }),
    error: t.exposeString('error', { nullable: true }),
    createdAt: t.field({ type: 'DateTime', resolve: (change) => change.created_at }),
    finishedAt: t.field({ type: 'DateTime', nullable: true, resolve: (change) => change.finished_at }),
  }),
});

builder.objectField('Instance', 'modules', (t) =>
  t.stringList({
    nullable: true,
    description: "The modules installed in the tenant's database, by name; null before it is initialised or once it is gone.",
    resolve: (instance, _args, context) =>
      instance.initialized_at && instance.status !== 'TERMINATED' ? installedModules(context.deps, instance) : null,
  }),
);

builder.objectField('Instance', 'moduleChanges', (t) =>
  t.field({
    type: [ModuleChange],
    description: 'Its module changes, newest first (the last 20).',
    resolve: (instance, _args, context) =>
      context.deps.db
        .selectFrom('module_changes')
        .selectAll()
        .where('instance_id', '=', instance.id)
        .orderBy('created_at', 'desc')
        .limit(20)
        .execute(),
  }),
);

const moduleMutation = (kind: 'install' | 'update', name: string, description: string) =>
  builder.mutationField(name, (t) =>
    t.field({
      type: 'Instance',
      description,
      authScopes: adminOrCustomer,
      args: { instanceId: t.arg.id({ required: true }), modules: t.arg.stringList({ required: true }) },
      resolve: async (_root, { instanceId, modules }, context) =>
        changeModules(context.deps, (await ownedInstance(context, instanceId)).id, kind, modules, triggerOf(context, name)),
    }),
  );

const steps =
  'The tenant is stopped (RESTORING) and a FINAL backup taken, a one-shot job runs Odoo with --stop-after-init, and the tenant ' +
  'runs again. If the job fails, the backup is restored and the tenant runs on its old state, with the error on the instance.';
moduleMutation('install', 'installModules', `Installs modules the instance's Odoo image offers (odoo -i). ${steps}`);
moduleMutation('update', 'updateModules', `Updates installed modules (odoo -u). ${steps}`);
