import { stat } from 'node:fs/promises';
import type { TemplateRow } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { removeTree } from '../storage/cephfs.js';
import { copyDir, ensureDirUnder, tenantSubdir } from '../storage/dirs.js';
import { filestoreDir, instanceDataDir, templateDataDir } from '../storage/layout.js';
import { setAdminLogin, untoldAdminPasswordHash } from './admin-password.js';
import { renewDatabaseIdentity } from './clone-identity.js';
import { templateDatabaseName } from './names.js';
import type { PoolAccess } from './pool-state.js';
import type { TenantDatabase } from './pool-server.js';
import { copyTemplate } from './template-database.js';
import { readyTemplate, templateDatabase } from './templates.js';

/** What a new tenant is copied from, and who it is: its own host, its admin's login. */
export interface TemplateCopy {
  template: TemplateRow;
  instance: { id: string; subdomain: string; admin_email: string; odoo_version: string };
  pool: PoolAccess;
  tenant: TenantDatabase;
}

const storageAnswers = (deps: Pick<Deps, 'storage'>): boolean => {
  try {
    deps.storage.assertAvailable();
    return true;
  } catch {
    return false;
  }
};

/**
 * What a new tenant on `pool` can be copied from: a READY template of its version as configured, when storage answers
 * (its filestore is copied too). A tenant loading a backup is made empty, never from a template.
 */
export async function templateCopyFor(
  deps: Pick<Deps, 'db' | 'config' | 'storage'>,
  instanceId: string,
  pool: PoolAccess,
  tenant: TenantDatabase,
): Promise<TemplateCopy | undefined> {
  if (!deps.config.templates.enabled || !storageAnswers(deps)) return undefined;
  const instance = await deps.db
    .selectFrom('instances')
    .select(['id', 'subdomain', 'admin_email', 'odoo_version'])
    .where('id', '=', instanceId)
    .where((eb) =>
      eb.not(eb.exists(eb.selectFrom('restores').select('id').where('instance_id', '=', instanceId).where('mode', '=', 'load'))),
    )
    .executeTakeFirst();
  const template = instance && (await readyTemplate(deps, pool.id, instance.odoo_version));
  return template ? { template, instance: instance, pool, tenant } : undefined;
}

/**
 * Makes the tenant's database a copy of the template's, its filestore a copy of the template's (files of its own: two
 * tenants never share one), with its own `database.uuid`, `database.secret` and `web.base.url`, and its admin logging
 * in as its `adminEmail` with a password nobody is told, as the init path leaves it. The database is handed to the
 * tenant's role last (copyTemplate). Idempotent. Throws TemplateGone if the template was dropped meanwhile.
 */
export async function copyFromTemplate(deps: Deps, copy: TemplateCopy, secret: { verifier: string }): Promise<void> {
  const { template, instance, pool, tenant } = copy;
  const hash = untoldAdminPasswordHash();
  hash.catch(() => undefined);
  // Both to their end before a failure is answered: the caller undoes the copy, and nothing may still be making it then.
  const outcomes = await Promise.allSettled([
    copyFilestore(deps, template, instance.id, tenant.database),
    deps.poolConnections.use(pool, (client) =>
      copyTemplate(
        client,
        { template: templateDatabase(template), tenant },
        { verifier: secret.verifier, connectionLimit: deps.config.tenantConnectionLimit },
        (database, work) => deps.poolConnections.inDatabase(pool, database, work),
        async (inside) => {
          await renewDatabaseIdentity(inside, `https://${instance.subdomain}.${deps.config.baseDomain}`);
          await setAdminLogin(inside, instance.admin_email, await hash);
        },
      ),
    ),
  ]);
  const failed = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failed) throw failed.reason;
}

/** The template's filestore, copied into the tenant's data dir under the tenant's database name. */
async function copyFilestore(
  deps: Pick<Deps, 'config' | 'storage'>,
  template: TemplateRow,
  instanceId: string,
  database: string,
): Promise<void> {
  deps.storage.assertAvailable();
  const { root } = deps.storage;
  const uid = deps.config.odooUid;
  const dataDir = instanceDataDir(root, instanceId);
  await ensureDirUnder(root, dataDir, uid, uid);
  await tenantSubdir(dataDir, 'filestore', uid);
  const source = filestoreDir(templateDataDir(root, template.id), templateDatabaseName(template.id));
  // A template whose build stored no file has no filestore: the tenant starts with none, as Odoo would leave it.
  if (
    await stat(source).then(
      () => true,
      () => false,
    )
  )
    await copyDir(source, filestoreDir(dataDir, database));
}

/** Undoes a copy that failed half-way (never handed to the tenant, nobody has used it), so the tenant can be initialised instead. */
export async function undoTemplateCopy(deps: Deps, copy: TemplateCopy): Promise<void> {
  await deps.poolConnections.use(copy.pool, (client) =>
    client.query(`drop database if exists ${client.escapeIdentifier(copy.tenant.database)} with (force)`),
  );
  await removeTree(filestoreDir(instanceDataDir(deps.storage.root, copy.instance.id), copy.tenant.database));
}
