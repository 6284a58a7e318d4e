import assert from 'node:assert/strict';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { readCredentials } from '../src/domain/allocation/credentials.js';
import { templateDatabaseName, templateRoleName, tenantDatabaseName, tenantRoleName } from '../src/domain/names.js';
import { COPY_STRATEGY } from '../src/domain/templates/template-database.js';
import { trackInstances } from '../src/jobs/instance-tracking.js';
import { filestoreDir, instanceDataDir, templateDataDir } from '../src/storage/layout.js';
import { labelFilters, labelKeys } from '../src/swarm/labels.js';
import {
  CREATE_INSTANCE,
  connectAsTenant,
  customerToken,
  eventually,
  instanceInput,
  registerLocalPool,
  resetState,
  runLabels,
  startTestDaemon,
  withPoolCatalog,
  type TestDaemon,
} from './support/harness.js';
import { PROVISION, instanceWithStatus } from './support/odoo.js';
import { passlibVerifies, withPoolDatabase, withTenantCatalog } from './support/tenant.js';

const STANDIN = 'local/odoo-standin:17.0';
const NO_ODOO = 'local/postgres-standin:16';
const VERSIONS = ['17.0', '18.0'];
const TEMPLATES = '{ templates { id version image modules pool poolId status error startedAt builtAt } }';
const VIEW = 'query($id: ID!) { instance(id: $id) { id status templateId serviceName error } }';
const RESET = 'mutation($id: ID!) { resetInstanceAdminPassword(instanceId: $id) { login password } }';

interface TemplateView {
  id: string;
  version: string;
  image: string;
  modules: string[];
  pool: string;
  status: string;
  error: string | null;
  builtAt: string | null;
}

/** The daemon a test runs: the stand-in as every offered version (it honours `-i` alike), templates on, looked at each second. */
const templateDaemon = (images: string, extra: Record<string, string> = {}) =>
  startTestDaemon({
    ODOO_IMAGES: VERSIONS.map((version) => `${version}=${images}`).join(','),
    ODOO_TEMPLATES: 'on',
    TEMPLATE_MODULES: 'contacts,base',
    TEMPLATE_CRON: '* * * * * *',
    ODOO_EXTRA_ENV: 'STANDIN_INIT_SECONDS=3',
    LOG_LEVEL: 'warn',
    // Storage is checked once a minute: a test makes the last check fail and signs up before the next one.
    STORAGE_CHECK_SECONDS: '59',
    ...extra,
  });

/** The daemon's warn and error lines, for a failure's message. */
const warnings = (daemon: TestDaemon): string => daemon.logs.filter((line) => /"level":(40|50|60)/.test(line)).join('\n');

const templatesOf = async (daemon: TestDaemon): Promise<TemplateView[]> => (await daemon.gql(TEMPLATES)).data.templates;

const readyTemplates = (daemon: TestDaemon) =>
  eventually(
    () => templatesOf(daemon),
    (templates) => VERSIONS.every((version) => templates.some((t) => t.version === version && t.status === 'READY')),
    120_000,
    250,
  );

const identityOf = (instanceId: string) =>
  withTenantCatalog(instanceId, async (client) =>
    Object.fromEntries(
      (
        await client.query<{ key: string; value: string }>(
          "select key, value from ir_config_parameter where key in ('database.uuid', 'database.secret', 'web.base.url')",
        )
      ).rows.map((row) => [row.key, row.value]),
    ),
  );

/** Who owns the tenant's database, and every table, sequence and extension in it. */
const ownersIn = async (instanceId: string) => ({
  database: await withPoolCatalog(
    async (client) =>
      (await client.query('select pg_get_userbyid(datdba) as owner from pg_database where datname = $1', [tenantDatabaseName(instanceId)]))
        .rows[0]?.owner,
  ),
  inside: await withTenantCatalog(instanceId, async (client) =>
    (
      await client.query<{ owner: string }>(
        `select distinct pg_get_userbyid(relowner) as owner from pg_class where relnamespace = 'public'::regnamespace
         union select pg_get_userbyid(extowner) from pg_extension where extname = 'pg_trgm'`,
      )
    ).rows.map((row) => row.owner),
  ),
});

describe('tenants from a ready template (stand-in)', { concurrency: false }, () => {
  let daemon: TestDaemon;
  let poolId: string;
  let first: TemplateView;

  before(async () => {
    daemon = await templateDaemon(STANDIN);
    await resetState(daemon.deps);
    poolId = (await registerLocalPool(daemon, 'pool-templates', 20)).id;
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('never copies a template still being built: a sign-up meanwhile is initialised by its own init job', async () => {
    const building = await eventually(
      () => templatesOf(daemon),
      (templates) => templates.length === VERSIONS.length,
      30_000,
      100,
    );
    assert.ok(
      building.every((template) => template.status === 'BUILDING'),
      JSON.stringify(building),
    );
    const created = await daemon.gql(CREATE_INSTANCE, { input: instanceInput() });
    assert.equal(created.errors, undefined, JSON.stringify(created.errors));
    const instance = (await daemon.gql(VIEW, { id: created.data.createInstance.id })).data.instance;
    assert.equal(instance.status, 'ALLOCATED');
    assert.equal(instance.templateId, null);
    const provisioned = (await daemon.gql(PROVISION, { id: instance.id })).data.provisionInstance;
    assert.match(provisioned.error ?? '', /^$/);
    const init = await daemon.deps.docker.listServices({
      filters: labelFilters({ [labelKeys.instanceId]: instance.id, [labelKeys.role]: 'init' }),
    });
    assert.equal(init.length, 1, 'the tenant has its own init job');
  });

  it('builds one template per pool and version with TEMPLATE_MODULES, sealed: no session may enter it, its role cannot log in', async () => {
    const templates = await readyTemplates(daemon);
    assert.deepEqual(templates.map((template) => template.version).sort(), VERSIONS);
    for (const template of templates) {
      assert.deepEqual([template.pool, template.image, template.modules], ['pool-templates', STANDIN, ['base', 'contacts']]);
      assert.ok(template.builtAt);
    }
    first = templates.find((template) => template.version === '17.0')!;
    const catalog = await withPoolCatalog(async (client) => {
      const database = await client.query(
        `select datistemplate, datallowconn, pg_get_userbyid(datdba) as owner, datacl::text as acl from pg_database where datname = $1`,
        [templateDatabaseName(first.id)],
      );
      const role = await client.query('select rolcanlogin from pg_roles where rolname = $1', [templateRoleName(first.id)]);
      return { database: database.rows[0], role: role.rows[0] };
    });
    assert.equal(catalog.database.datistemplate, true);
    assert.equal(catalog.database.datallowconn, false);
    assert.doesNotMatch(catalog.database.acl ?? '', /(^|[{,])=|odoo_tpl_/, 'neither PUBLIC nor its role may connect');
    assert.equal(catalog.role.rolcanlogin, false);
    // The modules were installed by the build, as `-i contacts,base`.
    const services = await daemon.deps.docker.listServices({ filters: labelFilters({ ...runLabels, [labelKeys.role]: 'template' }) });
    assert.equal(
      services.filter((service) => (service.Spec?.Labels ?? {})[labelKeys.templateId] === first.id).length,
      0,
      'its job is gone',
    );
    assert.equal(
      (await daemon.gql(TEMPLATES, {}, { token: await customerToken(instanceInput().customerId) })).errors?.[0]?.extensions?.code,
      'FORBIDDEN',
    );
  });

  it('copies a new tenant from it: owned by its role throughout, its own identity and admin, no init job, RUNNING', async () => {
    const subdomain = `tpl-${process.pid}-one`;
    const created = await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ subdomain, adminEmail: 'owner@tpl.example' }) });
    assert.equal(created.errors, undefined, JSON.stringify(created.errors));
    const id = created.data.createInstance.id;
    const view = (await daemon.gql(VIEW, { id })).data.instance;
    assert.deepEqual([view.status, view.templateId], ['ALLOCATED', first.id]);
    const role = tenantRoleName(id);
    assert.deepEqual(await ownersIn(id), { database: role, inside: [role] });
    assert.equal((await identityOf(id))['web.base.url'], `https://${subdomain}.${daemon.deps.config.baseDomain}`);
    const credentials = (await readCredentials(daemon.deps.redis, id))!;
    // The tenant cannot enter the template, nor copy it.
    await assert.rejects(
      connectAsTenant(credentials, templateDatabaseName(first.id)),
      /not currently accepting connections|permission denied/,
    );
    const tenant = await connectAsTenant(credentials);
    try {
      await assert.rejects(tenant.query(`create database stolen template ${templateDatabaseName(first.id)}`), /permission denied/);
    } finally {
      await tenant.end();
    }

    await daemon.gql(PROVISION, { id });
    await instanceWithStatus(daemon, id, 'RUNNING', { query: VIEW });
    const roles = (await daemon.deps.docker.listServices({ filters: labelFilters({ ...runLabels, [labelKeys.instanceId]: id }) })).map(
      (service) => (service.Spec?.Labels ?? {})[labelKeys.role],
    );
    assert.deepEqual(roles, ['server'], 'no init job');
    const admin = (await daemon.gql(RESET, { id })).data.resetInstanceAdminPassword;
    assert.equal(admin.login, 'owner@tpl.example');
    const stored = await withTenantCatalog(
      id,
      async (client) => (await client.query('select login, password from res_users where id = 2')).rows[0],
    );
    assert.equal(stored.login, 'owner@tpl.example');
    assert.ok(passlibVerifies(stored.password, admin.password));
  });

  it('copies concurrent sign-ups side by side, each with its own uuid, secret and filestore files', async () => {
    // A file in the template's filestore, as an attachment Odoo stored while installing the modules.
    const source = filestoreDir(templateDataDir(daemon.deps.config.cephfsRoot, first.id), templateDatabaseName(first.id));
    const probe = `${source}/probe`;
    await writeFile(probe, 'from the template');
    const created = await Promise.all(Array.from({ length: 6 }, () => daemon.gql(CREATE_INSTANCE, { input: instanceInput() })));
    const ids = created.map((answer) => {
      assert.equal(answer.errors, undefined, JSON.stringify(answer.errors));
      return answer.data.createInstance.id as string;
    });
    const views = await Promise.all(ids.map(async (id) => (await daemon.gql(VIEW, { id })).data.instance));
    assert.deepEqual(
      views.map((view) => [view.status, view.templateId]),
      ids.map(() => ['ALLOCATED', first.id]),
      `not all copied; the daemon's warnings:\n${warnings(daemon)}`,
    );
    const identities = await Promise.all(ids.map(identityOf));
    assert.equal(new Set(identities.map((identity) => identity['database.uuid'])).size, ids.length);
    assert.equal(new Set(identities.map((identity) => identity['database.secret'])).size, ids.length);

    const files = ids.map((id) => `${filestoreDir(instanceDataDir(daemon.deps.config.cephfsRoot, id), tenantDatabaseName(id))}/probe`);
    const inodes = await Promise.all([probe, ...files].map(async (file) => (await stat(file)).ino));
    assert.equal(new Set(inodes).size, inodes.length, 'every tenant has a file of its own');
    await writeFile(files[0]!, 'changed by one tenant');
    assert.deepEqual(
      await Promise.all([probe, ...files.slice(1)].map((file) => readFile(file, 'utf8'))),
      [probe, ...files.slice(1)].map(() => 'from the template'),
    );
  });

  it('copies once storage answers again though its last check failed; while it does not, initialises, logging why, copying nothing', async () => {
    const root = daemon.deps.storage.root;
    const signUp = async () => {
      const created = await daemon.gql(CREATE_INSTANCE, { input: instanceInput() });
      assert.equal(created.errors, undefined, JSON.stringify(created.errors));
      return (await daemon.gql(VIEW, { id: created.data.createInstance.id })).data.instance;
    };
    // Storage that does not answer, as the daemon's check sees it: the root gone for a moment.
    await rename(root, `${root}.aside`);
    let meanwhile;
    try {
      assert.notEqual((await daemon.deps.storage.check()).status, 'ok');
      meanwhile = await signUp();
    } finally {
      await rename(`${root}.aside`, root);
    }
    assert.deepEqual([meanwhile.status, meanwhile.templateId], ['ALLOCATED', null]);
    assert.ok(
      daemon.logs.some((line) => line.includes('"allocation.template_skipped"') && line.includes(meanwhile.id) && line.includes('storage')),
      `no fallback logged with its reason:\n${warnings(daemon)}`,
    );
    await assert.rejects(stat(filestoreDir(instanceDataDir(root, meanwhile.id), tenantDatabaseName(meanwhile.id))), /ENOENT/);

    // The last check still says it does not answer (the next is a minute away): a sign-up checks again, and copies.
    assert.notEqual(daemon.deps.storage.health().status, 'ok');
    const after = await signUp();
    assert.deepEqual([after.status, after.templateId], ['ALLOCATED', first.id], `not copied; the daemon's warnings:\n${warnings(daemon)}`);
  });

  it('copies though a try fails: PostgreSQL refuses a copy while a session is in the template, and the next try succeeds', async () => {
    const template = templateDatabaseName(first.id);
    const seen = daemon.logs.length;
    const retried = () => daemon.logs.slice(seen).find((line) => line.includes('"allocation.template_copy_retried"'));
    await withPoolCatalog((client) => client.query(`alter database ${template} allow_connections true`));
    const { signUp } = await withPoolDatabase(template, async () => {
      await withPoolCatalog((client) => client.query(`alter database ${template} allow_connections false`));
      const pending = { signUp: daemon.gql(CREATE_INSTANCE, { input: instanceInput() }) };
      // PostgreSQL waits 5 s for the session to leave, then refuses the copy: the session leaves once that try failed.
      await eventually(async () => retried(), Boolean, 30_000, 100);
      return pending;
    });
    const created = await signUp;
    assert.equal(created.errors, undefined, JSON.stringify(created.errors));
    assert.match(retried() ?? '', /being accessed by other users/);
    const view = (await daemon.gql(VIEW, { id: created.data.createInstance.id })).data.instance;
    assert.deepEqual([view.status, view.templateId], ['ALLOCATED', first.id], `not copied; the daemon's warnings:\n${warnings(daemon)}`);
    assert.deepEqual(await ownersIn(view.id), { database: tenantRoleName(view.id), inside: [tenantRoleName(view.id)] });
  });

  /** What a daemon killed while making the instance's database leaves: its slot reserved on the pool, its lease run out. */
  const abandonedReservation = async (name: string) => {
    const instance = await daemon.deps.db
      .insertInto('instances')
      .values({
        customer_id: instanceInput().customerId,
        name,
        subdomain: `${name.toLowerCase().replace(/ /g, '-')}-${process.pid}`,
        odoo_version: '17.0',
        admin_email: 'half@tpl.example',
        cpu_limit: 1,
        memory_limit_mb: 1024,
        status: 'CREATING',
        db_server_id: poolId,
        db_allocation: 'reserved',
        db_reserved_until: new Date(Date.now() - 1000),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await daemon.deps.db
      .updateTable('db_servers')
      .set((eb) => ({ current_instances: eb('current_instances', '+', 1) }))
      .where('id', '=', poolId)
      .execute();
    // The copy it made (the pool admin's, closed to connections), never handed over.
    await withPoolCatalog((client) =>
      client.query(
        `create database ${tenantDatabaseName(instance.id)} template ${templateDatabaseName(first.id)} strategy ${COPY_STRATEGY} allow_connections false`,
      ),
    );
    return instance;
  };

  it('finishes a copy whose daemon died half-way: the copy made but never handed over is handed to the tenant', async () => {
    const instance = await abandonedReservation('Half copied');
    const database = tenantDatabaseName(instance.id);
    await trackInstances(daemon.deps);
    const row = await daemon.deps.db.selectFrom('instances').selectAll().where('id', '=', instance.id).executeTakeFirstOrThrow();
    assert.deepEqual([row.status, row.template_id, row.initialized_at !== null], ['ALLOCATED', first.id, true]);
    const role = tenantRoleName(instance.id);
    assert.deepEqual(await ownersIn(instance.id), { database: role, inside: [role] });
    const admin = await withPoolDatabase(
      database,
      async (client) => (await client.query('select login from res_users where id = 2')).rows[0],
    );
    assert.equal(admin.login, 'half@tpl.example');
    await (await connectAsTenant((await readCredentials(daemon.deps.redis, instance.id))!)).end();
  });

  it('drops a copy never handed over whose template was retired since, and makes the tenant empty for its init job', async () => {
    const instance = await abandonedReservation('Copy of retired');
    await daemon.deps.db
      .updateTable('odoo_templates')
      .set({ status: 'RETIRED', retired_at: new Date() })
      .where('id', '=', first.id)
      .execute();
    await trackInstances(daemon.deps);
    const row = await daemon.deps.db.selectFrom('instances').selectAll().where('id', '=', instance.id).executeTakeFirstOrThrow();
    assert.deepEqual([row.status, row.template_id, row.initialized_at], ['ALLOCATED', null, null]);
    assert.deepEqual(await ownersIn(instance.id), { database: tenantRoleName(instance.id), inside: [tenantRoleName(instance.id)] });
    const tables = await withTenantCatalog(
      instance.id,
      async (client) => (await client.query("select to_regclass('res_users') as users")).rows[0],
    );
    assert.equal(tables.users, null, 'an empty database, for its init job');
  });

  it('retires the templates of another image at once, reports a build that fails without retrying it in a loop, and initialises meanwhile', async () => {
    await daemon.stop();
    // An image without Odoo: the build's task fails at once (the wait for the database passes, `odoo` is not there).
    daemon = await templateDaemon(NO_ODOO, {
      ODOO_RESTART_MAX_ATTEMPTS: '1',
      ODOO_RESTART_DELAY_SECONDS: '0',
      TEMPLATE_BUILD_DEADLINE_SECONDS: '60',
    });
    const failed = await eventually(
      () => templatesOf(daemon),
      (templates) => templates.filter((template) => template.status === 'FAILED').length === VERSIONS.length,
      120_000,
      250,
    );
    const before = failed.filter((template) => template.image === STANDIN);
    assert.ok(before.length >= VERSIONS.length && before.every((template) => template.status === 'RETIRED'), JSON.stringify(before));
    const broken = failed.filter((template) => template.status === 'FAILED');
    for (const template of broken) assert.match(template.error ?? '', /^The template build failed 2 times; last: .*exit code/s);
    const created = await daemon.gql(CREATE_INSTANCE, { input: instanceInput() });
    assert.equal((await daemon.gql(VIEW, { id: created.data.createInstance.id })).data.instance.templateId, null, 'initialised instead');
    // Not built again meanwhile (TEMPLATE_RETRY_SECONDS is an hour): the same rows, failed once, and no job.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const later = await templatesOf(daemon);
    assert.deepEqual(
      later
        .filter((template) => template.status === 'FAILED')
        .map((template) => template.id)
        .sort(),
      broken.map((template) => template.id).sort(),
    );
    const jobs = await daemon.deps.docker.listServices({ filters: labelFilters({ ...runLabels, [labelKeys.role]: 'template' }) });
    assert.equal(jobs.length, 0);
  });
});
