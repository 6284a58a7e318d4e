import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tenantDatabaseName } from '../src/domain/names.js';
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
import { brokenTestAddonsImage, nextTestAddonsImage, testAddonsImage } from './support/test-addons.js';
import { holdLock } from './support/isolation.js';

const VERSION = '17.0';
const RESET = 'mutation($id: ID!) { resetInstanceAdminPassword(instanceId: $id) { login password } }';
const VIEW = `query($id: ID!) { instance(id: $id) { id status error serviceName image pinnedImage modules
  moduleChanges { id kind modules status error finalBackupId } } }`;
const INSTALL = 'mutation($id: ID!, $modules: [String!]!) { installModules(instanceId: $id, modules: $modules) { id status error } }';
const ROLLOUT_FIELDS = `id version image batch status error createdAt finishedAt
  tenants { instanceId status error moduleChangeId } events { instanceId message createdAt }`;
const ROLLOUT = `mutation($version: String!, $image: String!, $batch: Int) {
  rolloutOdooVersion(version: $version, image: $image, batch: $batch) { ${ROLLOUT_FIELDS} } }`;
const ROLLOUT_VIEW = `query($id: ID!) { rollout(id: $id) { ${ROLLOUT_FIELDS} } }`;
const ROLLOUTS = '{ rollouts { id status } }';
const PIN = 'mutation($id: ID!, $pinned: Boolean!) { pinInstanceImage(instanceId: $id, pinned: $pinned) { id image pinnedImage } }';

interface RolloutView {
  id: string;
  version: string;
  image: string;
  batch: number;
  status: string;
  error: string | null;
  finishedAt: string | null;
  tenants: { instanceId: string; status: string; error: string | null; moduleChangeId: string | null }[];
  events: { instanceId: string | null; message: string; createdAt: string }[];
}

/**
 * rolloutOdooVersion on real Odoo 17.0, one tenant with probe_good installed (test/images/odoo-test-addons) and data of
 * its own. A good new build of the same addons (only a label differs): the tenant is stopped, saved, updated with
 * `-u all` on the new image, started on it and checked, and runs it with its data. Then a broken build, whose
 * probe_good 1.1 renames the tenant's customers (Odoo commits that) and then fails on a model that does not exist: the
 * tenant is restored from its FINAL backup and runs the build before it again, its customers as they were, what it
 * wrote since the first rollout too, and the rollout stops FAILED. Pinned to the image it runs, the tenant is passed by.
 * Each build reaches the daemon as an operator gives it one: in ODOO_IMAGES, the daemon restarted.
 */
describe('rolling a new build of an Odoo version out on real Odoo', () => {
  let daemon: TestDaemon;
  let client: OverlayClient;
  let id: string;
  let customerId: number;
  let laterId: number;
  const images = { first: '', next: '', broken: '' };
  const started = Date.now();
  const lap = (what: string) => console.log(`[measure] real Odoo rollouts: ${what} at ${((Date.now() - started) / 1000).toFixed(1)} s`);

  /** A daemon running `image` for 17.0, as after an operator's restart with a new ODOO_IMAGES. */
  const daemonWith = (image: string) =>
    startTestDaemon({
      ODOO_TEMPLATES: 'off',
      ODOO_IMAGES: `${VERSION}=${image}`,
      BACKUP_TRACKING_CRON: '* * * * * *',
      ODOO_STOP_GRACE_SECONDS: '2',
    });
  const restartWith = async (image: string) => {
    await daemon.stop();
    daemon = await daemonWith(image);
  };
  const view = async () => (await daemon.gql(VIEW, { id })).data.instance;
  /** The image Swarm runs for the tenant: what its service says, not only its row. */
  const serviceImage = async (serviceName: string) =>
    (await daemon.deps.docker.getService(serviceName).inspect()).Spec.TaskTemplate.ContainerSpec.Image as string;
  /** The tenant's admin logged in with a password just reset (a working server on its own database). */
  const adminSession = async () => {
    const admin = (await daemon.gql(RESET, { id })).data.resetInstanceAdminPassword;
    const odoo = new OdooSession(client, `http://${(await view()).serviceName}:8069`, tenantDatabaseName(id));
    assert.equal(await odoo.login(admin.login, admin.password), 2, 'the admin logs in');
    return odoo;
  };
  const customer = { name: 'Rollout Customer', email: 'customer@rollout.example' };
  const later = { name: 'Later Customer', email: 'later@rollout.example' };
  const rollout = async (image: string): Promise<RolloutView> => {
    const asked = await daemon.gql(ROLLOUT, { version: VERSION, image, batch: 1 });
    assert.equal(asked.errors, undefined, JSON.stringify(asked.errors));
    const created: RolloutView = asked.data.rolloutOdooVersion;
    assert.deepEqual([created.version, created.image, created.batch], [VERSION, image, 1]);
    assert.deepEqual(
      created.tenants.map((tenant) => tenant.instanceId),
      [id],
    );
    return created;
  };
  const ended = (rolloutId: string): Promise<RolloutView> =>
    eventually(
      async () => (await daemon.gql(ROLLOUT_VIEW, { id: rolloutId })).data.rollout as RolloutView,
      (found) => found.status !== 'RUNNING',
      900_000,
      1000,
    );
  /** The tenant once its rollout's module change has ended and it runs again. */
  const settled = (changeId: string) =>
    eventually(
      view,
      (found) =>
        found.status === 'RUNNING' &&
        ['COMPLETED', 'FAILED'].includes(found.moduleChanges.find((change: { id: string }) => change.id === changeId)?.status),
      600_000,
      1000,
    );
  /** What failed, with the rollout's events and what the tenant's Odoo logged meanwhile. */
  const withLogs = (work: () => Promise<void>) =>
    work().catch(async (error: Error) => {
      const rollouts = (await daemon.gql(ROLLOUTS)).data?.rollouts ?? [];
      const events = rollouts[0] ? (await daemon.gql(ROLLOUT_VIEW, { id: rollouts[0].id })).data?.rollout?.events : [];
      const logs = await run('docker', ['service', 'logs', '--tail', '40', (await view()).serviceName], '', true).catch(
        (failed: Error) => failed.message,
      );
      throw new Error(`${error.message}\nrollout events: ${JSON.stringify(events)}\n${logs}`);
    });

  before(async () => {
    // One real-Odoo suite at a time: three side by side on two cores left a tenant's name unresolved for over 30 s.
    await holdLock('real-odoo');
    images.first = await testAddonsImage(VERSION);
    images.next = await nextTestAddonsImage(VERSION);
    images.broken = await brokenTestAddonsImage(VERSION);
    daemon = await daemonWith(images.first);
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 10);
    const created = await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ odooVersion: VERSION }) });
    assert.equal(created.errors, undefined, JSON.stringify(created.errors));
    id = created.data.createInstance.id;
    await daemon.gql(PROVISION, { id });
    await instanceWithStatus(daemon, id, 'RUNNING', { timeoutMs: 300_000 });
    lap('RUNNING');
    // Attached once the tenant's task is: before, dockerd may still be making (or tearing down) the overlay on this node.
    client = await overlayClient(daemon.deps.docker, daemon.deps.config.swarmNetwork, images.first, runLabels);
    const installed = await daemon.gql(INSTALL, { id, modules: ['probe_good'] });
    assert.equal(installed.errors, undefined, JSON.stringify(installed.errors));
    const withModule = await eventually(
      view,
      (found) => found.status === 'RUNNING' && ['COMPLETED', 'FAILED'].includes(found.moduleChanges[0]?.status),
      600_000,
      1000,
    );
    assert.deepEqual([withModule.moduleChanges[0].status, withModule.modules.includes('probe_good')], ['COMPLETED', true]);
    lap('probe_good installed, RUNNING');
    customerId = await (await adminSession()).call('res.partner', 'create', [customer]);
  });
  after(async () => {
    await client?.remove();
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('a rollout is for admins, of the build ODOO_IMAGES names', async () => {
    await restartWith(images.next);
    const asked = { version: VERSION, image: images.next, batch: 1 };
    expectError(await daemon.gql(ROLLOUT, asked, { token: await customerToken(defaultCustomerId) }), 'FORBIDDEN');
    const other = await daemon.gql(ROLLOUT, { ...asked, image: images.first });
    expectError(other, 'VALIDATION_FAILED', 'image');
    assert.match(other.errors[0]!.message, /ODOO_IMAGES/);
    assert.deepEqual((await daemon.gql(ROLLOUTS)).data.rollouts, []);
    assert.equal((await view()).image, images.first);
  });

  it('a good new build: the tenant is updated on it, runs it with its data, and its admin logs in', () =>
    withLogs(async () => {
      const created = await rollout(images.next);
      const done = await ended(created.id);
      lap('rollout of the good build ended');
      assert.deepEqual([done.status, done.error], ['COMPLETED', null], JSON.stringify(done));
      assert.ok(done.finishedAt, 'it says when it ended');
      const [tenant] = done.tenants;
      assert.deepEqual([tenant!.status, tenant!.error], ['COMPLETED', null]);
      assert.ok(
        done.events.some((event) => event.instanceId === id),
        JSON.stringify(done.events),
      );
      assert.equal((await daemon.gql(ROLLOUTS)).data.rollouts[0].id, done.id, 'newest first');
      const instance = await settled(tenant!.moduleChangeId!);
      assert.deepEqual([instance.status, instance.error, instance.image], ['RUNNING', null, images.next]);
      assert.equal(await serviceImage(instance.serviceName), images.next);
      const change = instance.moduleChanges.find((found: { id: string }) => found.id === tenant!.moduleChangeId);
      assert.deepEqual([change.kind, change.modules, change.status, change.error], ['rollout', ['all'], 'COMPLETED', null]);
      assert.ok(change.finalBackupId, 'the tenant was saved before the update');
      assert.ok(instance.modules.includes('probe_good'), instance.modules.join(', '));
      const odoo = await adminSession();
      assert.deepEqual(await odoo.call('res.partner', 'read', [[customerId], ['name', 'email']]), [{ id: customerId, ...customer }]);
      laterId = await odoo.call('res.partner', 'create', [later]);
    }));

  it('a broken new build: its update fails, the tenant is rolled back to the build it ran with its data, the rollout stops', () =>
    withLogs(async () => {
      await restartWith(images.broken);
      const created = await rollout(images.broken);
      const done = await ended(created.id);
      lap('rollout of the broken build ended');
      assert.equal(done.status, 'FAILED', JSON.stringify(done));
      assert.ok(done.error, 'the rollout says why it stopped');
      assert.ok(done.finishedAt, 'it says when it ended');
      const [tenant] = done.tenants;
      assert.equal(tenant!.status, 'FAILED');
      assert.match(tenant!.error ?? '', /probe\.no_such_model/, "the tenant's error names what failed");
      const instance = await settled(tenant!.moduleChangeId!);
      lap('tenant rolled back, RUNNING');
      assert.deepEqual([instance.status, instance.image], ['RUNNING', images.next]);
      assert.match(instance.error ?? '', /roll(ed)? back/i, 'the tenant says its rollout was rolled back');
      assert.equal(await serviceImage(instance.serviceName), images.next);
      const change = instance.moduleChanges.find((found: { id: string }) => found.id === tenant!.moduleChangeId);
      assert.deepEqual([change.kind, change.modules, change.status], ['rollout', ['all'], 'FAILED']);
      assert.match(change.error ?? '', /probe\.no_such_model/);
      assert.ok(change.finalBackupId, 'the tenant was saved before the update');
      assert.ok(instance.modules.includes('probe_good'), instance.modules.join(', '));
      const odoo = await adminSession();
      assert.deepEqual(
        await odoo.call('res.partner', 'read', [
          [customerId, laterId],
          ['name', 'email'],
        ]),
        [
          { id: customerId, ...customer },
          { id: laterId, ...later },
        ],
        "the broken build's renaming is undone, and nothing written before the rollout is lost",
      );
      const [module] = await odoo.call('ir.module.module', 'search_read', [[['name', '=', 'probe_good']], ['latest_version']]);
      assert.equal(module.latest_version, '17.0.1.0', 'probe_good as build 2 has it, not the 1.1 the broken build committed');
    }));

  it('a tenant pinned to the image it runs is passed by, and follows rollouts again once unpinned', async () => {
    const changes = (await view()).moduleChanges.length;
    const pinned = (await daemon.gql(PIN, { id, pinned: true })).data.pinInstanceImage;
    assert.deepEqual([pinned.image, pinned.pinnedImage], [images.next, images.next]);
    const created = await rollout(images.broken);
    const done = await ended(created.id);
    assert.deepEqual([done.status, done.error], ['COMPLETED', null]);
    assert.deepEqual(
      done.tenants.map((tenant) => [tenant.status, tenant.error, tenant.moduleChangeId]),
      [['SKIPPED', `pinned to ${images.next}`, null]],
    );
    const instance = await view();
    assert.deepEqual([instance.status, instance.image, instance.moduleChanges.length], ['RUNNING', images.next, changes]);
    assert.equal((await daemon.gql(PIN, { id, pinned: false })).data.pinInstanceImage.pinnedImage, null);
  });
});
