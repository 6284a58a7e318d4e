import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TemplateRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { removeTree } from '../../storage/cephfs.js';
import { copyDir, ensureDirUnder, tenantSubdir } from '../../storage/dirs.js';
import { filestoreDir, instanceDataDir, templateDataDir } from '../../storage/layout.js';
import { setAdminLogin, untoldAdminPasswordHash } from '../instances/admin-password.js';
import { renewDatabaseIdentity } from './clone-identity.js';
import { templateDatabaseName } from '../names.js';
import type { PoolAccess } from '../../db/pool-access.js';
import type { TenantDatabase } from '../../db/pool-server.js';
import { copyTemplate, TemplateGone } from './template-database.js';
import { readyTemplate, templateDatabase } from './templates.js';

/** What a new tenant is copied from, and who it is: its own host, its admin's login. */
export interface TemplateCopy {
  template: TemplateRow;
  instance: { id: string; subdomain: string; admin_email: string; odoo_version: string };
  pool: PoolAccess;
  tenant: TenantDatabase;
}

/** Why a new tenant on `pool` is not copied from a template, or what it is copied from. */
type TemplateChoice = { copy: TemplateCopy } | { skipped: string; warn: boolean };

/**
 * What a new tenant on `pool` can be copied from: a READY template of its version as configured, when storage answers
 * (its filestore is copied too). A tenant loading a backup is made empty, never from a template.
 */
async function templateCopyFor(
  deps: Pick<Deps, 'db' | 'config' | 'storage'>,
  instanceId: string,
  pool: PoolAccess,
  tenant: TenantDatabase,
): Promise<TemplateChoice> {
  const instance = await deps.db
    .selectFrom('instances')
    .select(['id', 'subdomain', 'admin_email', 'odoo_version'])
    .where('id', '=', instanceId)
    .where((eb) =>
      eb.not(eb.exists(eb.selectFrom('restores').select('id').where('instance_id', '=', instanceId).where('mode', '=', 'load'))),
    )
    .executeTakeFirst();
  if (!instance) return { skipped: 'it loads a backup', warn: false };
  const template = await readyTemplate(deps, pool.id, instance.odoo_version);
  if (!template) return { skipped: `no READY template of ${instance.odoo_version} on pool ${pool.name}`, warn: false };
  const storage = await storageVerdict(deps);
  if (storage !== 'ok') return { skipped: `storage does not answer: ${storage}`, warn: true };
  return { copy: { template, instance, pool, tenant } };
}

/**
 * Whether storage takes a copy now: the last check's verdict, or, when that one failed or none has been made yet, a
 * check made now (it joins one under way, and answers at once while an earlier one still blocks). A single check that failed on a busy cluster (its
 * sync slower than STORAGE_CHECK_TIMEOUT_MS) is no reason to initialise a tenant the template could have made.
 */
async function storageVerdict(deps: Pick<Deps, 'storage'>): Promise<string> {
  const last = deps.storage.health();
  if (last.checkedAt && last.status === 'ok') return 'ok';
  return (await deps.storage.check()).status;
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

/**
 * Tries of a copy before the tenant is initialised instead. A copy is finished where the last try left it, so a pool
 * or storage busy for a moment (on two loaded cores a login to the fresh copy timed out after 5 s) costs a second,
 * not the template.
 */
const COPY_TRIES = 3;
const COPY_RETRY_DELAY_MS = 1000;

/**
 * The tenant's database and filestore as a copy of the pool's READY template, answering with the template; undefined
 * when there is none to copy (or the copy failed and was undone: the caller initialises the tenant instead, so a
 * template that cannot be copied never keeps a tenant out). Every fallback is logged with its reason.
 */
export async function copyTenantFromTemplate(
  deps: Deps,
  instanceId: string,
  pool: PoolAccess,
  tenant: TenantDatabase,
  verifier: string,
): Promise<TemplateRow | undefined> {
  if (!deps.config.templates.enabled) return undefined;
  const choice = await templateCopyFor(deps, instanceId, pool, tenant);
  const skipped = (reason: string, warn: boolean, templateId?: string) =>
    deps.log[warn ? 'warn' : 'info'](
      { event: 'allocation.template_skipped', instanceId, poolId: pool.id, templateId, reason },
      'not copied from a template: initialised instead',
    );
  if ('skipped' in choice) {
    skipped(choice.skipped, choice.warn);
    return undefined;
  }
  const { copy } = choice;
  for (let tried = 1; ; tried++) {
    try {
      await copyFromTemplate(deps, copy, { verifier });
      return copy.template;
    } catch (error) {
      const reason = (error as Error).message;
      if (error instanceof TemplateGone || tried === COPY_TRIES) {
        skipped(tried > 1 ? `${reason} (tried ${tried} times)` : reason, !(error instanceof TemplateGone), copy.template.id);
        await undoTemplateCopy(deps, copy);
        return undefined;
      }
      deps.log.warn(
        { event: 'allocation.template_copy_retried', instanceId, poolId: pool.id, templateId: copy.template.id, tried, reason },
        'template copy failed; tried again',
      );
      await sleep(COPY_RETRY_DELAY_MS * tried);
    }
  }
}

/** Undoes a copy that failed half-way (never handed to the tenant, nobody has used it), so the tenant can be initialised instead. */
export async function undoTemplateCopy(deps: Deps, copy: TemplateCopy): Promise<void> {
  await deps.poolConnections.use(copy.pool, (client) =>
    client.query(`drop database if exists ${client.escapeIdentifier(copy.tenant.database)} with (force)`),
  );
  await removeTree(filestoreDir(instanceDataDir(deps.storage.root, copy.instance.id), copy.tenant.database));
}
