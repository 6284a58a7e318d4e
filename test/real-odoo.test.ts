import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tenantDatabaseName, tenantRoleName } from '../src/domain/names.js';
import { instanceDataDir } from '../src/storage/layout.js';
import {
  CREATE_INSTANCE,
  eventually,
  instanceInput,
  registerLocalPool,
  resetState,
  runLabels,
  startTestDaemon,
  withPoolCatalog,
  type TestDaemon,
} from './support/harness.js';
import { instanceWithStatus, PROVISION } from './support/odoo.js';
import { withPoolDatabase } from './support/tenant.js';
import { odooDbLoad, OdooSession, overlayClient, realOdooImage, run, type OverlayClient } from './support/real-odoo.js';
import { holdLock } from './support/isolation.js';

const VERSIONS = ['17.0', '18.0'];
const RESET = 'mutation($id: ID!) { resetInstanceAdminPassword(instanceId: $id) { login password } }';
const BACKUP = 'mutation($id: ID!) { backupInstance(instanceId: $id) { id status } }';
const BACKUP_VIEW = 'query($id: ID!) { backup(id: $id) { id status error } }';
const RESTORE = 'mutation($id: ID!, $backupId: ID!) { restoreInstance(instanceId: $id, backupId: $backupId) { id status } }';
const VIEW = 'query($id: ID!) { instance(id: $id) { id subdomain status error serviceName odooVersion cpuLimit memoryLimitMb } }';
const action = (verb: string) => `mutation($id: ID!) { ${verb}(instanceId: $id) { id status error } }`;

/** A query in `database` on the local PostgreSQL, as the pool admin (a member of every tenant's role). */
const inDatabase = <T = Record<string, unknown>>(database: string, query: string, values: unknown[] = []): Promise<T[]> =>
  withPoolDatabase(database, async (client) => (await client.query(query, values)).rows as T[]);

const collation = (database: string) =>
  withPoolCatalog(
    async (admin) => (await admin.query('select datcollate from pg_database where datname = $1', [database])).rows[0]?.datcollate,
  );

/** The identity Odoo gives a database, which a copy must not share, and its base URL. */
const identity = async (database: string): Promise<Record<string, string>> =>
  Object.fromEntries(
    (
      await inDatabase<{ key: string; value: string }>(
        database,
        "select key, value from ir_config_parameter where key in ('database.uuid', 'database.secret', 'web.base.url')",
      )
    ).map((row) => [row.key, row.value]),
  );

/**
 * One tenant per real Odoo version, carried through its whole life on the default plan (1 CPU, 1 GiB): created,
 * provisioned, logged in to over JSON-RPC, given a partner and an attachment, stopped, started, restarted, backed up;
 * then, from that backup and side by side, its download loaded by Odoo's own `odoo db load`, the tenant restored in
 * place and a new instance started from it; both terminated. Both versions run at once, on one daemon offering both:
 * real Odoo takes seconds for what the stand-in does at once, and this runs inside npm test.
 */
describe('real Odoo, end to end on the default plan', { concurrency: true }, () => {
  let daemon: TestDaemon;
  let client: OverlayClient;
  const started = Date.now();

  const view = async (instanceId: string) => (await daemon.gql(VIEW, { id: instanceId })).data.instance;
  const statusWhen = (instanceId: string, wanted: string) =>
    instanceWithStatus<any>(daemon, instanceId, wanted, { query: VIEW, timeoutMs: 300_000 });
  const session = async (instanceId: string) =>
    new OdooSession(client, `http://${(await view(instanceId)).serviceName}:8069`, tenantDatabaseName(instanceId));

  before(async () => {
    // One real-Odoo suite at a time: three side by side on two cores left a tenant's name unresolved for over 30 s.
    await holdLock('real-odoo');
    daemon = await startTestDaemon({
      ODOO_IMAGES: VERSIONS.map((version) => `${version}=${realOdooImage(version)}`).join(','),
      BACKUP_TRACKING_CRON: '* * * * * *',
      // Odoo's workers end their requests within a second of SIGTERM, then spend seconds of CPU freeing their memory.
      ODOO_STOP_GRACE_SECONDS: '2',
      // Built meanwhile: the tenants above are made before a template is ready, and go through their own init job.
      ODOO_TEMPLATES: 'on',
      TEMPLATE_CRON: '*/2 * * * * *',
    });
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 10);
    client = await overlayClient(daemon.deps.docker, daemon.deps.config.swarmNetwork, realOdooImage(VERSIONS[0]!), runLabels);
  });
  after(async () => {
    await client?.remove();
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('offers the versions of ODOO_IMAGES, and refuses another', async () => {
    assert.deepEqual((await daemon.gql('{ odooVersions }')).data.odooVersions, VERSIONS);
    const refused = await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ odooVersion: '16.0' }) });
    assert.equal(refused.errors?.[0]?.message, 'input.odooVersion: must be one of: 17.0, 18.0');
  });

  for (const version of VERSIONS) {
    // Each version's steps one after the other; the versions side by side.
    describe(`Odoo ${version}`, { concurrency: false }, () => {
      let id: string;
      let database: string;
      let admin: { login: string; password: string };
      let partnerId: number;
      let attachment: { id: number; store_fname: string };
      let backupId: string;
      const lap = (what: string) =>
        console.log(`[measure] real Odoo ${version}: ${what} at ${((Date.now() - started) / 1000).toFixed(1)} s`);

      it('makes its database as Odoo does, and runs it on the default plan', async () => {
        const created = await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ odooVersion: version }) });
        assert.equal(created.errors, undefined, JSON.stringify(created.errors));
        id = created.data.createInstance.id;
        database = tenantDatabaseName(id);
        assert.equal(await collation(database), 'C');
        // pg_trgm, the tenant's own as when Odoo creates it: without it Odoo makes none of its trigram indexes.
        assert.deepEqual(
          await inDatabase(database, "select pg_get_userbyid(extowner) as owner from pg_extension where extname = 'pg_trgm'"),
          [{ owner: tenantRoleName(id) }],
        );
        await daemon.gql(PROVISION, { id });
        const running = await statusWhen(id, 'RUNNING');
        lap('RUNNING');
        assert.deepEqual([running.odooVersion, running.cpuLimit, running.memoryLimitMb], [version, 1, 1024]);
        const [service] = await daemon.deps.docker.listServices({ filters: { name: [running.serviceName] } });
        assert.equal((service as any).Spec.TaskTemplate.ContainerSpec.Image, realOdooImage(version));
      });

      it("logs in over JSON-RPC with the reset password only; Odoo's default admin and its database manager are refused", async () => {
        admin = (await daemon.gql(RESET, { id })).data.resetInstanceAdminPassword;
        const odoo = await session(id);
        assert.equal(await odoo.login('admin', 'admin'), null, 'admin/admin refused');
        assert.equal(await odoo.login(admin.login, admin.password), 2);
        const listed = await odoo.rpc('/web/database/list', {});
        assert.ok(listed.error, `the database list is refused: ${JSON.stringify(listed)}`);
        // Odoo's default master password is `admin`; the tenant's is its own, and no dump comes out.
        const manager = `http://${(await view(id)).serviceName}:8069/web/database/backup`;
        const dump = await client.post(manager, { master_pwd: 'admin', name: database, backup_format: 'zip' }, `manager-${id}`, 'form');
        assert.ok(!dump.body.startsWith('PK') && !/CREATE TABLE/.test(dump.body), 'no dump through the database manager');

        partnerId = await odoo.call('res.partner', 'create', [{ name: 'Real Partner', email: 'real@partner.example' }]);
        const attachmentId = await odoo.call('ir.attachment', 'create', [
          { name: 'probe.txt', datas: Buffer.from('real attachment').toString('base64'), res_model: 'res.partner', res_id: partnerId },
        ]);
        [attachment] = await odoo.call('ir.attachment', 'read', [[attachmentId], ['store_fname']]);
        const stored = join(instanceDataDir(daemon.deps.config.cephfsRoot, id), 'filestore', database, attachment.store_fname);
        assert.equal(await readFile(stored, 'utf8'), 'real attachment', 'the attachment is in the filestore on CephFS');
      });

      it("serves its bus: the gevent server, started after the workers, accepts the web client's websocket", async () => {
        const url = `http://${(await view(id)).serviceName}:8072/websocket`;
        const status = await eventually(
          () => client.websocket(url),
          (answer) => answer === 101,
          60_000,
          1000,
        );
        assert.equal(status, 101);
      });

      it('stops, starts and restarts without initialising again, and backs up', async () => {
        const baseWritten = await inDatabase(database, "select write_date from ir_module_module where name = 'base'");
        for (const [verb, wanted] of [
          ['stopInstance', 'STOPPED'],
          ['startInstance', 'RUNNING'],
          ['restartInstance', 'RUNNING'],
        ] as const) {
          const answer = await daemon.gql(action(verb), { id });
          assert.equal(answer.errors, undefined, JSON.stringify(answer.errors));
          assert.equal((await statusWhen(id, wanted)).status, wanted);
        }
        lap('stopped, started, restarted');
        assert.deepEqual(await inDatabase(database, "select write_date from ir_module_module where name = 'base'"), baseWritten);
        const events = await daemon.deps.db.selectFrom('instance_events').select('message').where('instance_id', '=', id).execute();
        assert.equal(events.filter((event) => event.message?.startsWith('database initialised')).length, 1);
        const odoo = await session(id);
        assert.equal(await odoo.login(admin.login, admin.password), 2);
        assert.deepEqual(await odoo.call('res.partner', 'read', [[partnerId], ['name']]), [{ id: partnerId, name: 'Real Partner' }]);
        backupId = (await daemon.gql(BACKUP, { id })).data.backupInstance.id;
        const backup = await eventually(
          async () => (await daemon.gql(BACKUP_VIEW, { id: backupId })).data.backup,
          (found) => found.status === 'COMPLETED' || found.status === 'FAILED',
          120_000,
          250,
        );
        assert.equal(backup.status, 'COMPLETED', backup.error ?? '');
        // Changed after the backup: a restore must undo it.
        await odoo.call('res.partner', 'write', [[partnerId], { name: 'Renamed after the backup' }]);
        await odoo.call('ir.attachment', 'unlink', [[attachment.id]]);
      });

      it("from its backup at once: real Odoo's `odoo db load` restores the download, the tenant is restored, a new instance starts", async () => {
        const source = await identity(database);
        let cloneId = id;
        /** What failed, and what the tenant's Odoo logged meanwhile. */
        const step = (name: string, work: () => Promise<void>, instance = () => id) =>
          work().catch(async (error: Error) => {
            const logs = await run('docker', ['service', 'logs', '--tail', '40', (await view(instance())).serviceName], '', true).catch(
              (failed: Error) => failed.message,
            );
            throw new Error(`${name}: ${error.message}\n${logs}`);
          });
        await Promise.all([
          (async () => {
            const response = await fetch(`${daemon.url}/backups/${backupId}/download`, {
              headers: { authorization: `Bearer ${daemon.deps.config.adminToken}`, 'x-graphql-yoga-csrf': '1' },
            });
            assert.equal(response.status, 200);
            const work = await mkdtemp(join(tmpdir(), 'odoo-db-load-'));
            const scratch = `scratch_${id.replace(/-/g, '').slice(0, 12)}`;
            try {
              const zip = join(work, 'backup.zip');
              await writeFile(zip, Buffer.from(await response.arrayBuffer()));
              const dataDir = join(work, 'data');
              await mkdir(dataDir);
              await odooDbLoad(realOdooImage(version), zip, scratch, dataDir);
              lap('download loaded by odoo db load');
              assert.deepEqual(await inDatabase(scratch, 'select name from res_partner where id = $1', [partnerId]), [
                { name: 'Real Partner' },
              ]);
              assert.equal(await readFile(join(dataDir, 'filestore', scratch, attachment.store_fname), 'utf8'), 'real attachment');
              assert.notEqual((await identity(scratch))['database.uuid'], source['database.uuid'], 'loaded as a copy');
            } finally {
              await withPoolCatalog((admin) => admin.query(`drop database if exists ${admin.escapeIdentifier(scratch)} with (force)`));
              await rm(work, { recursive: true, force: true });
            }
          })(),
          step('restore in place', async () => {
            const answer = await daemon.gql(RESTORE, { id, backupId });
            assert.equal(answer.errors, undefined, JSON.stringify(answer.errors));
            await statusWhen(id, 'RUNNING');
            lap('restored in place');
            assert.equal(await collation(database), 'C');
            const odoo = await session(id);
            assert.equal(await odoo.login(admin.login, admin.password), 2);
            assert.deepEqual(await odoo.call('res.partner', 'read', [[partnerId], ['name']]), [{ id: partnerId, name: 'Real Partner' }]);
            const [back] = await odoo.call('ir.attachment', 'read', [[attachment.id], ['datas']]);
            assert.equal(Buffer.from(back.datas, 'base64').toString('utf8'), 'real attachment');
          }),
          step(
            'new instance from the backup',
            async () => {
              const created = await daemon.gql(CREATE_INSTANCE, {
                input: instanceInput({ odooVersion: version, fromBackupId: backupId, adminEmail: 'clone@acme.example' }),
              });
              assert.equal(created.errors, undefined, JSON.stringify(created.errors));
              cloneId = created.data.createInstance.id;
              await daemon.gql(PROVISION, { id: cloneId });
              await statusWhen(cloneId, 'RUNNING');
              lap('new instance from the backup RUNNING');
              const clone = await identity(tenantDatabaseName(cloneId));
              assert.notEqual(clone['database.uuid'], source['database.uuid']);
              assert.notEqual(clone['database.secret'], source['database.secret']);
              assert.equal(clone['web.base.url'], `https://${created.data.createInstance.subdomain}.${daemon.deps.config.baseDomain}`);
              const cloneAdmin = (await daemon.gql(RESET, { id: cloneId })).data.resetInstanceAdminPassword;
              assert.equal(cloneAdmin.login, 'clone@acme.example');
              const odoo = await session(cloneId);
              assert.equal(await odoo.login(cloneAdmin.login, cloneAdmin.password), 2);
              assert.deepEqual(await odoo.call('res.partner', 'read', [[partnerId], ['name']]), [{ id: partnerId, name: 'Real Partner' }]);
              await daemon.gql(action('terminateInstance'), { id: cloneId });
              assert.equal((await statusWhen(cloneId, 'TERMINATED')).status, 'TERMINATED');
            },
            () => cloneId,
          ),
        ]);
        await daemon.gql(action('terminateInstance'), { id });
        assert.equal((await statusWhen(id, 'TERMINATED')).status, 'TERMINATED');
        lap('terminated');
        assert.equal(await collation(database), undefined, 'the database is dropped');
      });
    });
  }

  describe('tenants from a ready template', { concurrency: false }, () => {
    const TEMPLATES = '{ templates { id version modules pool status builtAt } }';
    const TEMPLATE_OF = 'query($id: ID!) { instance(id: $id) { templateId } }';
    let templates: { id: string; version: string; modules: string[]; pool: string; status: string }[];
    const tenants: { id: string; version: string; admin: { login: string; password: string } }[] = [];
    const lap = (what: string) => console.log(`[measure] real Odoo: ${what} at ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const filestoreOf = (id: string) => join(instanceDataDir(daemon.deps.config.cephfsRoot, id), 'filestore', tenantDatabaseName(id));
    /** Every file under `dir` with its inode. */
    const filesIn = async (dir: string): Promise<Map<string, number>> => {
      const found = new Map<string, number>();
      for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }))
        if (entry.isFile())
          found.set(join(entry.parentPath, entry.name).slice(dir.length + 1), (await stat(join(entry.parentPath, entry.name))).ino);
      return found;
    };

    it('builds a sealed template per version on the pool, `base` installed by the init job', async () => {
      templates = await eventually(
        async () => (await daemon.gql(TEMPLATES)).data.templates,
        (found: typeof templates) =>
          VERSIONS.every((version) => found.some((template) => template.version === version && template.status !== 'BUILDING')),
        600_000,
        1000,
      );
      lap('templates built');
      assert.deepEqual(
        templates.map((template) => [template.version, template.modules, template.pool, template.status]).sort(),
        VERSIONS.map((version) => [version, ['base'], 'pool-local', 'READY']),
      );
    });

    it('signs up two 17.0 tenants from its template at once: no init job, each logs in with its own uuid and secret', async () => {
      const started = Date.now();
      const created = await Promise.all(
        ['17.0', '17.0'].map(async (version) => {
          const answer = await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ odooVersion: version }) });
          assert.equal(answer.errors, undefined, JSON.stringify(answer.errors));
          const { id } = answer.data.createInstance;
          assert.equal((await daemon.gql(TEMPLATE_OF, { id })).data.instance.templateId, templates.find((t) => t.version === version)!.id);
          await daemon.gql(PROVISION, { id });
          await statusWhen(id, 'RUNNING');
          const admin = (await daemon.gql(RESET, { id })).data.resetInstanceAdminPassword;
          const odoo = await session(id);
          assert.equal(await odoo.login('admin', 'admin'), null, 'admin/admin refused');
          assert.equal(await odoo.login(admin.login, admin.password), 2);
          return { id, version, admin };
        }),
      );
      console.log(
        `[measure] real Odoo: two sign-ups from a template at once, first logins after ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      tenants.push(...created);
      const identities = await Promise.all(tenants.map(({ id }) => identity(tenantDatabaseName(id))));
      assert.equal(new Set(identities.map((found) => found['database.uuid'])).size, tenants.length);
      assert.equal(new Set(identities.map((found) => found['database.secret'])).size, tenants.length);
      for (const { id } of tenants) {
        const events = await daemon.deps.db.selectFrom('instance_events').select('message').where('instance_id', '=', id).execute();
        assert.ok(!events.some((event) => /initialising the database/.test(event.message ?? '')), 'no init job');
      }
    });

    it('two tenants from one template share no filestore file, and one installs `contacts`', async () => {
      const [one, two] = tenants.filter((tenant) => tenant.version === '17.0');
      const template = templates.find((t) => t.version === '17.0')!;
      const templateFiles = await filesIn(
        join(daemon.deps.config.cephfsRoot, 'odoo_templates', template.id, 'filestore', `odoo_tpl_${template.id.replace(/-/g, '')}`),
      );
      const [oneFiles, twoFiles] = await Promise.all([filesIn(filestoreOf(one!.id)), filesIn(filestoreOf(two!.id))]);
      // What the copy's attachments name is there (the tenants' Odoo stored more since: the web client's assets).
      const stored = await inDatabase<{ store_fname: string }>(
        tenantDatabaseName(two!.id),
        'select distinct store_fname from ir_attachment where store_fname is not null and create_date <= (select min(create_date) from res_users)',
      );
      for (const { store_fname } of stored) assert.ok(templateFiles.has(store_fname) && twoFiles.has(store_fname), store_fname);
      for (const [file, inode] of templateFiles) {
        const copies = [inode, oneFiles.get(file), twoFiles.get(file)];
        assert.equal(new Set(copies).size, 3, `${file}: each tenant has a copy of its own (${copies.join(', ')})`);
      }

      const odoo = await session(one!.id);
      assert.equal(await odoo.login(one!.admin.login, one!.admin.password), 2);
      const [contacts] = await odoo.call('ir.module.module', 'search_read', [[['name', '=', 'contacts']], ['id', 'state']]);
      await odoo.call('ir.module.module', 'button_immediate_install', [[contacts.id]]);
      lap('contacts installed on a tenant from the template');
      const [installed] = await inDatabase<{ state: string }>(
        tenantDatabaseName(one!.id),
        "select state from ir_module_module where name = 'contacts'",
      );
      assert.equal(installed?.state, 'installed');
      const [untouched] = await inDatabase<{ state: string }>(
        tenantDatabaseName(two!.id),
        "select state from ir_module_module where name = 'contacts'",
      );
      assert.equal(untouched?.state, 'uninstalled');
      for (const { id } of tenants) await daemon.gql(action('terminateInstance'), { id });
      for (const { id } of tenants) assert.equal((await statusWhen(id, 'TERMINATED')).status, 'TERMINATED');
    });
  });
});
