import { z } from 'zod';
import { commaList, cronExpression, int } from './rules.js';

/** An Odoo module's technical name, as `-i` takes it. */
const moduleName = /^[a-z][a-z0-9_]{0,63}$/;

/** Ready-made tenant databases per pool, Odoo version and module set: what they hold and how the leader keeps them. */
export const templateSection = z
  .object({
    ODOO_TEMPLATES: z
      .enum(['on', 'off'])
      .default('on')
      .describe(
        "`off`: no templates are built (existing ones are retired), every tenant is initialised by its own init job (the tests' default)",
      ),
    TEMPLATE_MODULES: z
      .string()
      .refine(
        (value) => commaList(value).length > 0 && commaList(value).every((name) => moduleName.test(name)),
        'must be Odoo module names separated by commas',
      )
      .default('base')
      .describe('the Odoo modules templates have installed (`-i`), comma-separated; changing them rebuilds every template'),
    TEMPLATE_CRON: cronExpression.default('*/5 * * * * *').describe('when the leader builds, seals and retires templates'),
    TEMPLATE_RETRY_SECONDS: int(60, 30 * 24 * 3600)
      .default(3600)
      .describe('how long after a failed template build it is tried again'),
    TEMPLATE_BUILD_DEADLINE_SECONDS: int(60, 24 * 3600)
      .default(1800)
      .describe('how long a template build may take before it has failed'),
  })
  .transform((e) => ({
    templates: {
      /** `off`: every tenant is initialised by its own init job, and no template is built. */
      enabled: e.ODOO_TEMPLATES === 'on',
      /** What a template has installed (`-i`), sorted and without repeats: the same set always names the same template. */
      modules: [...new Set(commaList(e.TEMPLATE_MODULES))].sort(),
      cron: e.TEMPLATE_CRON,
      /** A template whose build failed is built again no sooner than this, not in a loop. */
      retrySeconds: e.TEMPLATE_RETRY_SECONDS,
      /** A build not done by then has failed. */
      buildDeadlineSeconds: e.TEMPLATE_BUILD_DEADLINE_SECONDS,
    },
  }))
  .meta({ title: 'Templates' });
