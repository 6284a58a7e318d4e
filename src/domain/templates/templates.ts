import { sql } from 'kysely';
import { generatePassword, scramSha256VerifierAsync } from '../../crypto/passwords.js';
import type { TemplateRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { removeTree } from '../../storage/cephfs.js';
import { ensureDirUnder } from '../../storage/dirs.js';
import { templateDataDir } from '../../storage/layout.js';
import { templateLabels } from '../../swarm/labels.js';
import { odooConfigFile } from '../../swarm/odoo-config.js';
import { odooTemplateJobSpec } from '../../swarm/odoo-template-job.js';
import { withReservationPolicy } from '../../swarm/reservations.js';
import { createService, ensureSecret, listTasks, removeJob, removeSecret, taskLogTail } from '../../swarm/swarm.js';
import { templateDatabaseName, templateJobName, templateRoleName, templateSecretName } from '../names.js';
import { offeredOdooVersions, specFromConfig } from '../instances/odoo-spec.js';
import { tenantAddress } from '../pools/pool-state.js';
import { poolAccessColumns, type PoolAccess } from '../../db/pool-access.js';
import { dropTemplate, prepareTemplateDatabase, sealTemplate, type TemplateDatabase } from './template-database.js';
import { judgeInitJob } from '../instances/tenant-init.js';

/** What a template is built with: each pool holds one ready template per key. */
export interface TemplateKey {
  odoo_version: string;
  image: string;
  modules: string[];
}

/** The limits a template is built with: the default plan's (Odoo's init is one process; more CPU would not help). */
const BUILD_LIMITS = { cpuLimit: 1, memoryLimitMb: 1024 };

/** How long a retired template stays: a copy that started from it (a second or so) has long finished by then. */
export const RETIRED_GRACE_SECONDS = 600;

export const templateDatabase = (template: Pick<TemplateRow, 'id'>): TemplateDatabase => ({
  database: templateDatabaseName(template.id),
  role: templateRoleName(template.id),
});

/** The keys this replica's config wants on every pool: each offered version, its image, TEMPLATE_MODULES. */
export const wantedKeys = (config: Pick<Deps['config'], 'odooImages' | 'templates'>): TemplateKey[] =>
  offeredOdooVersions(config).map((version) => ({
    odoo_version: version,
    image: config.odooImages[version]!,
    modules: config.templates.modules,
  }));

export const sameKey = (row: TemplateKey, key: TemplateKey): boolean =>
  row.odoo_version === key.odoo_version && row.image === key.image && row.modules.join(',') === key.modules.join(',');

/** The pools a template is kept on: those that take tenants, or may again. */
const keptOn = ['active', 'full', 'maintenance'] as const;

/**
 * The leader's pass over the templates, from the rows and the build jobs' tasks: each pool in service gets one per
 * wanted key (built by a job, then sealed READY); a build that failed is FAILED with its reason and built again only
 * after TEMPLATE_RETRY_SECONDS; a template no longer wanted (another image or module set, a version no longer offered)
 * is RETIRED at once, so no tenant is copied from it, and dropped once no copy from it can still be running. Every
 * step is recorded on the row before the next, so a leader stopped anywhere is followed by the next from there.
 */
export async function maintainTemplates(deps: Deps): Promise<void> {
  const known = await deps.db.selectFrom('db_servers').select(poolAccessColumns).where('status', '<>', 'decommissioned').execute();
  const rows = await deps.db.selectFrom('odoo_templates').selectAll().execute();
  const wanted = deps.config.templates.enabled ? wantedKeys(deps.config) : [];
  const now = new Date();
  const poolById = new Map(known.map((pool) => [pool.id, pool]));
  // A pool in error keeps its templates (it may come back), but nothing is built on it meanwhile.
  const pools = known.filter((pool) => keptOn.some((status) => status === pool.status));

  for (const row of rows) {
    const pool = poolById.get(row.pool_id);
    if (row.status !== 'RETIRED' && !(pool && wanted.some((key) => sameKey(row, key)))) await retire(deps, row);
  }
  await Promise.all(
    pools.map(async (pool) => {
      for (const key of wanted) {
        const row = rows.find((candidate) => candidate.pool_id === pool.id && candidate.status !== 'RETIRED' && sameKey(candidate, key));
        await step(deps, pool, key, row, now).catch((error: unknown) =>
          deps.log.warn(
            { event: 'template.step_failed', poolId: pool.id, version: key.odoo_version, err: error },
            'template step failed; tried again next tick',
          ),
        );
      }
    }),
  );
  for (const row of rows.filter((candidate) => candidate.status === 'RETIRED' && candidate.retired_at)) {
    if (now.getTime() - row.retired_at!.getTime() < RETIRED_GRACE_SECONDS * 1000) continue;
    await removeRetired(deps, row, poolById.get(row.pool_id)).catch((error: unknown) =>
      deps.log.warn({ event: 'template.remove_failed', templateId: row.id, err: error }, 'retired template not removed yet'),
    );
  }
}

async function step(deps: Deps, pool: PoolAccess, key: TemplateKey, row: TemplateRow | undefined, now: Date): Promise<void> {
  if (!row) {
    const inserted = await deps.db
      .insertInto('odoo_templates')
      .values({ pool_id: pool.id, odoo_version: key.odoo_version, image: key.image, modules: key.modules, status: 'BUILDING' })
      .onConflict((oc) =>
        oc
          .columns(['pool_id', 'odoo_version', 'image', 'modules'])
          .where(sql<boolean>`status <> 'RETIRED'`)
          .doNothing(),
      )
      .returningAll()
      .executeTakeFirst();
    if (inserted) await launchBuild(deps, pool, inserted);
    return;
  }
  if (row.status === 'BUILDING') {
    await (row.job_id ? followBuild(deps, pool, row, now) : launchBuild(deps, pool, row));
    return;
  }
  if (row.status === 'FAILED' && row.failed_at && now.getTime() - row.failed_at.getTime() >= deps.config.templates.retrySeconds * 1000) {
    const again = await deps.db
      .updateTable('odoo_templates')
      .set({ status: 'BUILDING', error: null, job_id: null, started_at: sql`now()`, failed_at: null })
      .where('id', '=', row.id)
      .where('status', '=', 'FAILED')
      .returningAll()
      .executeTakeFirst();
    if (again) await launchBuild(deps, pool, again);
  }
}

/**
 * Starts (again) the build of a BUILDING template: a fresh password for its role, its database made, an empty data
 * dir, its config secret and the job. What an interrupted launch left (job, secret, files) is removed first.
 */
async function launchBuild(deps: Deps, pool: PoolAccess, row: TemplateRow): Promise<void> {
  const names = templateDatabase(row);
  const jobName = templateJobName(row.id);
  const secretName = templateSecretName(row.id);
  deps.storage.assertAvailable();
  await removeJob(deps.docker, jobName);
  await removeSecret(deps.docker, secretName);
  const password = generatePassword(32);
  await deps.poolConnections.use(pool, async (client) =>
    prepareTemplateDatabase(client, names, await scramSha256VerifierAsync(password), (database, work) =>
      deps.poolConnections.inDatabase(pool, database, work),
    ),
  );
  const dir = templateDataDir(deps.storage.root, row.id);
  await removeTree(dir);
  await ensureDirUnder(deps.storage.root, dir, deps.config.odooUid, deps.config.odooUid);
  const address = tenantAddress(pool);
  const secret = await ensureSecret(
    deps.docker,
    secretName,
    odooConfigFile({
      db: { host: address.host, port: address.port, name: names.database, user: names.role, password },
      masterPassword: generatePassword(32),
    }),
    templateLabels(row.id, deps.config.dockerLabels),
  );
  const spec = specFromConfig(deps.config, { id: row.id, odoo_version: row.odoo_version }, BUILD_LIMITS);
  const jobId = await createService(
    deps.docker,
    withReservationPolicy(
      odooTemplateJobSpec({
        templateId: row.id,
        serviceName: jobName,
        spec: { ...spec, image: row.image },
        modules: row.modules,
        network: deps.config.swarmNetwork,
        dataDir: templateDataDir(deps.config.storage.tenantRoot, row.id),
        configSecret: secret,
        restartMaxAttempts: deps.config.odooRestartMaxAttempts,
        restartDelaySeconds: deps.config.odooRestartDelaySeconds,
        odooUid: deps.config.odooUid,
        extraLabels: deps.config.dockerLabels,
      }),
      deps.config.swarmReservations,
    ),
  );
  await deps.db.updateTable('odoo_templates').set({ job_id: jobId }).where('id', '=', row.id).where('status', '=', 'BUILDING').execute();
  deps.log.info(
    { event: 'template.building', templateId: row.id, poolId: pool.id, version: row.odoo_version, image: row.image, modules: row.modules },
    'template build started',
  );
}

/** A build job that completed is sealed READY; one that failed (or outlived its deadline) is FAILED with its reason. */
async function followBuild(deps: Deps, pool: PoolAccess, row: TemplateRow, now: Date): Promise<void> {
  const tasks = await listTasks(deps.docker, templateLabels(row.id, deps.config.dockerLabels));
  const deadline = new Date(row.started_at.getTime() + deps.config.templates.buildDeadlineSeconds * 1000);
  const verdict = judgeInitJob(tasks, { maxFailedTasks: deps.config.odooRestartMaxAttempts + 1, deadline }, now);
  if (verdict.kind === 'pending') return;
  if (verdict.kind === 'failed') {
    const logTail = verdict.taskId ? await taskLogTail(deps.docker, verdict.taskId, 3).catch(() => '') : '';
    const error = (logTail ? `${verdict.reason}; log: ${logTail}` : verdict.reason).replace('Odoo initialisation', 'The template build');
    await endBuild(deps, row);
    await deps.poolConnections.use(pool, (client) => dropTemplate(client, templateDatabase(row)));
    await removeTree(templateDataDir(deps.storage.root, row.id));
    await deps.db
      .updateTable('odoo_templates')
      .set({ status: 'FAILED', error, failed_at: sql`now()`, job_id: null })
      .where('id', '=', row.id)
      .where('status', '=', 'BUILDING')
      .execute();
    deps.log.warn(
      { event: 'template.failed', templateId: row.id, poolId: pool.id, version: row.odoo_version, error },
      'template build failed',
    );
    return;
  }
  await deps.poolConnections.use(pool, (client) => sealTemplate(client, templateDatabase(row)));
  await endBuild(deps, row);
  await deps.db
    .updateTable('odoo_templates')
    .set({ status: 'READY', built_at: sql`now()`, job_id: null, error: null })
    .where('id', '=', row.id)
    .where('status', '=', 'BUILDING')
    .execute();
  const seconds = (now.getTime() - row.started_at.getTime()) / 1000;
  deps.log.info({ event: 'template.ready', templateId: row.id, poolId: pool.id, version: row.odoo_version, seconds }, 'template ready');
}

const endBuild = async (deps: Deps, row: TemplateRow): Promise<void> => {
  await removeJob(deps.docker, templateJobName(row.id));
  await removeSecret(deps.docker, templateSecretName(row.id));
};

/** No tenant is copied from it any more; a build in progress stops. Dropped after RETIRED_GRACE_SECONDS. */
async function retire(deps: Deps, row: TemplateRow): Promise<void> {
  const retired = await deps.db
    .updateTable('odoo_templates')
    .set({ status: 'RETIRED', retired_at: sql`now()` })
    .where('id', '=', row.id)
    .where('status', '=', row.status)
    .executeTakeFirst();
  if (retired.numUpdatedRows === 0n) return;
  if (row.status === 'BUILDING') await endBuild(deps, row);
  deps.log.info({ event: 'template.retired', templateId: row.id, poolId: row.pool_id, version: row.odoo_version }, 'template retired');
}

/** Drops a retired template's database, role and files, then its row (instances copied from it keep their copies). */
async function removeRetired(deps: Deps, row: TemplateRow, pool: PoolAccess | undefined): Promise<void> {
  await endBuild(deps, row);
  if (pool) await deps.poolConnections.use(pool, (client) => dropTemplate(client, templateDatabase(row)));
  deps.storage.assertAvailable();
  await removeTree(templateDataDir(deps.storage.root, row.id));
  await deps.db.deleteFrom('odoo_templates').where('id', '=', row.id).where('status', '=', 'RETIRED').execute();
  deps.log.info({ event: 'template.removed', templateId: row.id }, 'retired template removed');
}

/** The READY template of the pool for the version as this replica's config wants it (image, modules), if any. */
export async function readyTemplate(deps: Pick<Deps, 'db' | 'config'>, poolId: string, version: string): Promise<TemplateRow | undefined> {
  if (!deps.config.templates.enabled) return undefined;
  const key = wantedKeys(deps.config).find((candidate) => candidate.odoo_version === version);
  if (!key) return undefined;
  return deps.db
    .selectFrom('odoo_templates')
    .selectAll()
    .where('pool_id', '=', poolId)
    .where('odoo_version', '=', version)
    .where('image', '=', key.image)
    .where('modules', '=', sql<string[]>`${key.modules}::text[]`)
    .where('status', '=', 'READY')
    .executeTakeFirst();
}

/** Every template, for admins: newest first. */
export const listTemplates = (deps: Pick<Deps, 'db'>) =>
  deps.db
    .selectFrom('odoo_templates')
    .innerJoin('db_servers', 'db_servers.id', 'odoo_templates.pool_id')
    .selectAll('odoo_templates')
    .select('db_servers.name as pool_name')
    .orderBy('odoo_templates.started_at', 'desc')
    .execute();
