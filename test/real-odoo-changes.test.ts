import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tenantDatabaseName } from '../src/domain/names.js';
import type pg from 'pg';
import {
  CREATE_INSTANCE,
  customerToken,
  defaultCustomerId,
  eventually,
  expectError,
  instanceInput,
  registerLocalPool,
  resetState,
  runLabels,
  startTestDaemon,
  type TestDaemon,
} from './support/harness.js';
import { instanceWithStatus, PROVISION } from './support/odoo.js';
import { OdooSession, overlayClient, run, type OverlayClient } from './support/real-odoo.js';
import { testAddonsImage } from './support/test-addons.js';
import { withPoolDatabase } from './support/tenant.js';
import { holdLock } from './support/isolation.js';

const VERSION = '17.0';
const RESET = 'mutation($id: ID!) { resetInstanceAdminPassword(instanceId: $id) { login password } }';
const VIEW = `query($id: ID!) { instance(id: $id) { id status error serviceName modules
  moduleChanges { id status error finalBackupId } } }`;
const INSTALL = 'mutation($id: ID!, $modules: [String!]!) { installModules(instanceId: $id, modules: $modules) { id status error } }';
const TERMINATE = 'mutation($id: ID!) { terminateInstance(instanceId: $id) { id status } }';
const STAGING_FIELDS = 'id status error serviceName stagingOf stagingExpiresAt';
const STAGING = `mutation($id: ID!, $name: String!, $subdomain: String!) {
  createStaging(instanceId: $id, name: $name, subdomain: $subdomain) { ${STAGING_FIELDS} } }`;
const STAGING_VIEW = `query($id: ID!) { instance(id: $id) { ${STAGING_FIELDS} } }`;
const RENEW = `mutation($id: ID!) { renewStaging(instanceId: $id) { ${STAGING_FIELDS} } }`;
const database = tenantDatabaseName;

/** `work` on the tenant's database on the local PostgreSQL, as the pool admin acting as the tenant's role (what Odoo may do). */
const inDatabase = <T>(name: string, work: (client: pg.Client) => Promise<T>): Promise<T> =>
  withPoolDatabase(name, async (client) => {
    const owner = (await client.query('select pg_get_userbyid(datdba) as owner from pg_database where datname = $1', [name])).rows[0].owner;
    await client.query(`set role ${client.escapeIdentifier(owner)}`);
    return work(client);
  });

/** The identity Odoo gives a database, which a copy must not share, its base URL, and whether it was neutralised. */
const identity = async (name: string): Promise<Record<string, string>> =>
  Object.fromEntries(
    (
      await inDatabase(name, (client) =>
        client.query<{ key: string; value: string }>(
          "select key, value from ir_config_parameter where key in ('database.uuid', 'database.secret', 'web.base.url', 'database.is_neutralized')",
        ),
      )
    ).rows.map((row) => [row.key, row.value]),
  );

/**
 * installModules on real Odoo 17.0, with test modules in the image's extra addons: probe_good installs and renames the
 * tenant's probe customers (a data migration); probe_broken depends on it and fails. Odoo commits each module as it
 * installs it, so asking for both leaves probe_good installed and the customers renamed unless the daemon rolls back:
 * it does, from the FINAL backup, and the tenant runs on its old data with the job's error. Then probe_good alone
 * installs, and the tenant runs with it. Then staging copies: one whose data keeps its crons active through
 * `odoo neutralize` (a trigger) fails the check and is never started; one without is neutralised, checked and runs with
 * its own identity, its source untouched.
 */
describe('module changes and staging copies on real Odoo', () => {
  let daemon: TestDaemon;
  let client: OverlayClient;
  let id: string;
  let admin: { login: string; password: string };
  let customerId: number;
  const started = Date.now();
  const lap = (what: string) => console.log(`[measure] real Odoo modules: ${what} at ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const view = async () => (await daemon.gql(VIEW, { id })).data.instance;
  const session = async () => new OdooSession(client, `http://${(await view()).serviceName}:8069`, tenantDatabaseName(id));
  const settledChange = () =>
    eventually(
      view,
      (found) => ['COMPLETED', 'FAILED'].includes(found.moduleChanges[0]?.status) && found.status === 'RUNNING',
      600_000,
      500,
    );
  /** Docker's name filter matches prefixes: the copy's jobs are named after its service. */
  const serviceExists = async (name: string) =>
    (await daemon.deps.docker.listServices({ filters: { name: [name] } })).some((service) => service.Spec?.Name === name);
  /** What failed, and what the tenant's Odoo logged meanwhile. */
  const withLogs = (work: () => Promise<void>) =>
    work().catch(async (error: Error) => {
      const logs = await run('docker', ['service', 'logs', '--tail', '40', (await view()).serviceName], '', true).catch(
        (failed: Error) => failed.message,
      );
      throw new Error(`${error.message}\n${logs}`);
    });

  before(async () => {
    // One real-Odoo suite at a time: three side by side on two cores left a tenant's name unresolved for over 30 s.
    await holdLock('real-odoo');
    const image = await testAddonsImage(VERSION);
    daemon = await startTestDaemon({
      ODOO_IMAGES: `${VERSION}=${image}`,
      BACKUP_TRACKING_CRON: '* * * * * *',
      ODOO_STOP_GRACE_SECONDS: '2',
    });
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 10);
    client = await overlayClient(daemon.deps.docker, daemon.deps.config.swarmNetwork, image, runLabels);
    const created = await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ odooVersion: VERSION }) });
    assert.equal(created.errors, undefined, JSON.stringify(created.errors));
    id = created.data.createInstance.id;
    await daemon.gql(PROVISION, { id });
    await instanceWithStatus(daemon, id, 'RUNNING', { timeoutMs: 300_000 });
    lap('RUNNING');
    admin = (await daemon.gql(RESET, { id })).data.resetInstanceAdminPassword;
    const odoo = await session();
    assert.equal(await odoo.login(admin.login, admin.password), 2);
    customerId = await odoo.call('res.partner', 'create', [{ name: 'Probe Customer', email: 'customer@probe.example' }]);
  });
  after(async () => {
    await client?.remove();
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('a module that fails to install is rolled back from the FINAL backup: what the modules before it changed is undone', () =>
    withLogs(async () => {
      const before = await view();
      assert.ok(before.modules.includes('base') && !before.modules.includes('probe_good'), before.modules.join(', '));
      const asked = await daemon.gql(INSTALL, { id, modules: ['probe_good', 'probe_broken'] });
      assert.equal(asked.data?.installModules.status, 'RESTORING', JSON.stringify(asked.errors));
      const instance = await settledChange();
      lap('failed install rolled back, RUNNING');
      const [change] = instance.moduleChanges;
      assert.equal(change.status, 'FAILED');
      assert.match(change.error, /probe_no_such_field/, 'the job says why');
      assert.equal(instance.error, change.error);
      assert.ok(!instance.modules.includes('probe_good'), 'probe_good, installed and committed by the job, is gone');
      const odoo = await session();
      assert.equal(await odoo.login(admin.login, admin.password), 2);
      assert.deepEqual(await odoo.call('res.partner', 'read', [[customerId], ['name']]), [{ id: customerId, name: 'Probe Customer' }]);
      assert.deepEqual(await odoo.call('res.partner', 'search_count', [[['name', '=', 'Made by probe_good']]]), 0);
    }));

  it('a module that installs: the tenant runs with it, its data migration applied', () =>
    withLogs(async () => {
      const asked = await daemon.gql(INSTALL, { id, modules: ['probe_good'] });
      assert.equal(asked.data?.installModules.status, 'RESTORING', JSON.stringify(asked.errors));
      const instance = await settledChange();
      lap('install completed, RUNNING');
      assert.deepEqual([instance.moduleChanges[0].status, instance.error], ['COMPLETED', null]);
      assert.ok(instance.modules.includes('probe_good'), instance.modules.join(', '));
      const odoo = await session();
      assert.equal(await odoo.login(admin.login, admin.password), 2);
      assert.deepEqual(await odoo.call('res.partner', 'read', [[customerId], ['name']]), [
        { id: customerId, name: 'Renamed by probe_good' },
      ]);
    }));

  it("a staging copy that the tenant's data keeps from being neutral is never started", () =>
    withLogs(async () => {
      // A hostile tenant's trigger keeps its scheduled actions active whatever updates them: odoo neutralize too.
      await inDatabase(database(id), async (client) => {
        await client.query(`create function x_keep_crons() returns trigger language plpgsql as $$
          begin new.active := old.active; return new; end $$`);
        await client.query('create trigger x_keep_crons before update on ir_cron for each row execute function x_keep_crons()');
      });
      try {
        const asked = await daemon.gql(STAGING, { id, name: 'Staging hostile', subdomain: `stg-h-${id.slice(0, 8)}` });
        assert.equal(asked.errors, undefined, JSON.stringify(asked.errors));
        const copy = asked.data.createStaging;
        assert.equal(copy.stagingOf, id);
        const failed = await instanceWithStatus<any>(daemon, copy.id, 'FAILED', { query: STAGING_VIEW, timeoutMs: 300_000 });
        lap('hostile staging copy FAILED');
        assert.equal(failed.status, 'FAILED');
        assert.match(failed.error, /^the staging copy is not neutralised \(\d+ scheduled action\(s\) still active\): it is not started$/);
        assert.equal(await serviceExists(failed.serviceName), false, 'no Odoo server was made');
        await daemon.gql(TERMINATE, { id: copy.id });
      } finally {
        await inDatabase(database(id), async (client) => {
          await client.query('drop trigger x_keep_crons on ir_cron');
          await client.query('drop function x_keep_crons()');
        });
      }
    }));

  it("a staging copy: loaded from a fresh backup, neutralised by Odoo's own command and checked, its own identity, then running", () =>
    withLogs(async () => {
      const odoo = await session();
      assert.equal(await odoo.login(admin.login, admin.password), 2);
      await odoo.call('ir.mail_server', 'create', [{ name: 'Production SMTP', smtp_host: 'smtp.probe.example', smtp_port: 587 }]);
      const activeCrons = 'select count(*)::int as n from ir_cron where active';
      const sourceCrons = (await inDatabase(database(id), (client) => client.query(activeCrons))).rows[0].n;
      assert.ok(sourceCrons > 1, `the source has scheduled actions (${sourceCrons})`);
      const subdomain = `stg-${id.slice(0, 8)}`;
      const asked = await daemon.gql(STAGING, { id, name: 'Staging', subdomain }, { token: await customerToken(defaultCustomerId) });
      assert.equal(asked.errors, undefined, JSON.stringify(asked.errors));
      const copyId = asked.data.createStaging.id;
      const copy = await instanceWithStatus<any>(daemon, copyId, 'RUNNING', { query: STAGING_VIEW, timeoutMs: 300_000 });
      lap('staging copy RUNNING');
      assert.deepEqual([copy.status, copy.error, copy.stagingOf], ['RUNNING', null, id]);
      const ttl = Date.parse(copy.stagingExpiresAt) - Date.now();
      assert.ok(Math.abs(ttl - 14 * 86_400_000) < 3_600_000, `expires in STAGING_TTL_DAYS (14): ${copy.stagingExpiresAt}`);
      const [source, staged] = [await identity(database(id)), await identity(database(copyId))];
      assert.equal(staged['database.is_neutralized'], 'true');
      assert.equal(source['database.is_neutralized'], undefined, 'the source is untouched');
      assert.notEqual(staged['database.uuid'], source['database.uuid']);
      assert.notEqual(staged['database.secret'], source['database.secret']);
      assert.equal(staged['web.base.url'], `https://${subdomain}.${daemon.deps.config.baseDomain}`);
      const mail = "select count(*)::int as n from ir_mail_server where active and smtp_host <> 'invalid'";
      assert.equal((await inDatabase(database(copyId), (client) => client.query(mail))).rows[0].n, 0, 'no mail server sends');
      assert.equal((await inDatabase(database(id), (client) => client.query(mail))).rows[0].n, 1, "the source's still does");
      assert.equal((await inDatabase(database(copyId), (client) => client.query(activeCrons))).rows[0].n, 1, 'autovacuum only');
      assert.equal((await inDatabase(database(id), (client) => client.query(activeCrons))).rows[0].n, sourceCrons);
      const copySession = new OdooSession(client, `http://${copy.serviceName}:8069`, database(copyId));
      assert.equal(await copySession.login(admin.login, admin.password), 2);
      assert.deepEqual(await copySession.call('res.partner', 'read', [[customerId], ['name']]), [
        { id: customerId, name: 'Renamed by probe_good' },
      ]);
      const renewed = await daemon.gql(RENEW, { id: copyId });
      assert.ok(Date.parse(renewed.data.renewStaging.stagingExpiresAt) > Date.parse(copy.stagingExpiresAt));
      expectError(await daemon.gql(RENEW, { id }), 'CONFLICT');
      await daemon.gql(TERMINATE, { id: copyId });
      await daemon.gql(TERMINATE, { id });
      assert.equal((await instanceWithStatus(daemon, id, 'TERMINATED', { timeoutMs: 300_000 })).status, 'TERMINATED');
    }));
});
