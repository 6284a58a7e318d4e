import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tenantDatabaseName } from '../src/domain/names.js';
import {
  CREATE_INSTANCE,
  eventually,
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

const VERSION = '17.0';
const RESET = 'mutation($id: ID!) { resetInstanceAdminPassword(instanceId: $id) { login password } }';
const VIEW = `query($id: ID!) { instance(id: $id) { id status error serviceName modules
  moduleChanges { id status error finalBackupId } } }`;
const INSTALL = 'mutation($id: ID!, $modules: [String!]!) { installModules(instanceId: $id, modules: $modules) { id status error } }';
const TERMINATE = 'mutation($id: ID!) { terminateInstance(instanceId: $id) { id status } }';

/**
 * installModules on real Odoo 17.0, with test modules in the image's extra addons: probe_good installs and renames the
 * tenant's probe customers (a data migration); probe_broken depends on it and fails. Odoo commits each module as it
 * installs it, so asking for both leaves probe_good installed and the customers renamed unless the daemon rolls back:
 * it does, from the FINAL backup, and the tenant runs on its old data with the job's error. Then probe_good alone
 * installs, and the tenant runs with it.
 */
describe('module changes on real Odoo', () => {
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
  /** What failed, and what the tenant's Odoo logged meanwhile. */
  const withLogs = (work: () => Promise<void>) =>
    work().catch(async (error: Error) => {
      const logs = await run('docker', ['service', 'logs', '--tail', '40', (await view()).serviceName], '', true).catch(
        (failed: Error) => failed.message,
      );
      throw new Error(`${error.message}\n${logs}`);
    });

  before(async () => {
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
      await daemon.gql(TERMINATE, { id });
      assert.equal((await instanceWithStatus(daemon, id, 'TERMINATED', { timeoutMs: 300_000 })).status, 'TERMINATED');
    }));
});
