import { templateStatuses, type TemplateRow } from '../db/schema.js';
import { listTemplates } from '../domain/templates/templates.js';
import { builder, upperCaseValues as upper } from './builder.js';
import { adminOnly } from './context.js';

const TemplateStatus = builder.enumType('TemplateStatus', { values: upper(templateStatuses) });

const Template = builder.objectRef<TemplateRow & { pool_name: string }>('Template').implement({
  description:
    "A pool's ready-made database for one Odoo version, image and module set (TEMPLATE_MODULES): a new tenant on the pool is " +
    'copied from it when it is READY, else initialised by its own init job.',
  fields: (t) => ({
    id: t.exposeID('id'),
    version: t.exposeString('odoo_version'),
    image: t.exposeString('image'),
    modules: t.exposeStringList('modules'),
    pool: t.exposeString('pool_name', { description: "The pool's name." }),
    poolId: t.exposeID('pool_id'),
    status: t.field({ type: TemplateStatus, resolve: (template) => template.status }),
    error: t.exposeString('error', {
      nullable: true,
      description: 'Why its last build failed (built again after TEMPLATE_RETRY_SECONDS).',
    }),
    startedAt: t.field({ type: 'DateTime', resolve: (template) => template.started_at }),
    builtAt: t.field({ type: 'DateTime', nullable: true, resolve: (template) => template.built_at }),
  }),
});

builder.queryFields((t) => ({
  templates: t.field({
    type: [Template],
    description: "Every pool's templates, newest first.",
    authScopes: adminOnly,
    resolve: (_root, _args, context) => listTemplates(context.deps),
  }),
}));

builder.objectFields('Instance', (t) => ({
  templateId: t.exposeID('template_id', {
    nullable: true,
    description:
      'The template its database and filestore were copied from; null: initialised by its own init job (or loaded from a backup).',
  }),
}));
