import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { moduleJobName } from '../src/swarm/odoo-module-job.js';
import {
  customerToken,
  defaultCustomerId,
  eventually,
  expectError,
  registerLocalPool,
  resetState,
  startTestDaemon,
  type TestDaemon,
} from './support/harness.js';
import { allocatedInstance, PROVISION, settledInstance } from './support/odoo.js';
import { partnerNames, withTenant, writePartners } from './support/tenant-data.js';

const FIELDS = 'id status error conditions { phase reason } modules moduleChanges { id kind modules status finalBackupId error }';
const VIEW = `query($id: ID!) { instance(id: $id) { ${FIELDS} } }`;
const change = (verb: string) =>
  `mutation($id: ID!, $modules: [String!]!) { ${verb}(instanceId: $id, modules: $modules) { id status error } }`;
const env = { BACKUP_TRACKING_CRON: '* * * * * *' };

/** Modules as Odoo lists them from the image's addons paths: the stand-in lists only those it installed. */
const listModules = (id: string, modules: Record<string, string>) =>
  withTenant(id, async (client) => {
    for (const [name, state] of Object.entries(modules))
      await client.query('insert into ir_module_module (name, state) values ($1, $2)', [name, state]);
  });

const moduleState = (id: string, name: string) =>
  withTenant(id, async (client) => (await client.query('select state from ir_module_module where name = $1', [name])).rows[0]?.state);

/**
 * installModules / updateModules on the stand-in Odoo (which installs any listed module with -i): names checked
 * against the tenant's list, a FINAL backup first, the job, the tenant given back; a job that fails rolls the tenant
 * back from that backup. The daemon is stopped and replaced mid-change, as a killed daemon would be: the next one
 * finishes from the rows.
 */
describe('module changes per tenant', () => {
  let daemon: TestDaemon;
  let id: string;

  const view = async () => (await daemon.gql(VIEW, { id })).data.instance;
  const changeRow = () =>
    daemon.deps.db.selectFrom('module_changes').selectAll().where('instance_id', '=', id).orderBy('created_at', 'desc');
  /** Waits until the latest change reaches `status`, then replaces the daemon by a fresh one on the same rows. */
  const replaceDaemonAt = async (status: string) => {
    const row = await eventually(
      () => changeRow().executeTakeFirstOrThrow(),
      (found) => found.status === status,
      120_000,
      50,
    );
    assert.equal(row.status, status);
    await daemon.stop();
    daemon = await startTestDaemon(env);
  };
  const settled = () =>
    eventually(
      view,
      (instance) => instance.moduleChanges[0]?.status === 'COMPLETED' || instance.moduleChanges[0]?.status === 'FAILED',
      180_000,
      250,
    );

  before(async () => {
    daemon = await startTestDaemon(env);
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 10);
    ({ id } = await allocatedInstance(daemon));
    await daemon.gql(PROVISION, { id });
    assert.equal((await settledInstance(daemon, id)).status, 'RUNNING');
    await writePartners(id, ['Before any change']);
    await listModules(id, { probe_module: 'uninstalled', broken_probe: 'uninstalled', not_here: 'uninstallable' });
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('refuses names that are not modules, modules the image does not offer, updates of modules not installed, and other customers', async () => {
    expectError(
      await daemon.gql(change('installModules'), { id, modules: ['contacts', '--addons-path=/tmp'] }),
      'VALIDATION_FAILED',
      'modules',
    );
    const unknown = await daemon.gql(change('installModules'), { id, modules: ['probe_module', 'sale', 'not_here'] });
    expectError(unknown, 'VALIDATION_FAILED', 'modules');
    assert.equal(unknown.errors[0]?.message, "modules: not among the installable modules of the instance's Odoo image: sale, not_here");
    const notInstalled = await daemon.gql(change('updateModules'), { id, modules: ['base', 'probe_module'] });
    assert.equal(notInstalled.errors?.[0]?.message, 'modules: not installed on the instance: probe_module');
    const stranger = await customerToken('0a0b0c0d-1111-4222-8333-944455556666');
    expectError(await daemon.gql(change('installModules'), { id, modules: ['probe_module'] }, { token: stranger }), 'NOT_FOUND');
    const instance = await view();
    assert.deepEqual([instance.status, instance.moduleChanges, instance.modules], ['RUNNING', [], ['base']]);
  });

  it('installs a module: the tenant stopped, a FINAL backup, the job, the tenant running again; a daemon replaced mid-way finishes it', async () => {
    // Asked twice at once: one change.
    const asked = await Promise.all([1, 2].map(() => daemon.gql(change('installModules'), { id, modules: ['probe_module'] })));
    assert.deepEqual(
      asked.map((answer) => answer.data?.installModules.status),
      ['RESTORING', 'RESTORING'],
      JSON.stringify(asked.map((answer) => answer.errors)),
    );
    await replaceDaemonAt('APPLYING');
    const instance = await settled();
    assert.equal(instance.moduleChanges.length, 1);
    const [done] = instance.moduleChanges;
    assert.deepEqual([done.kind, done.modules, done.status, done.error], ['install', ['probe_module'], 'COMPLETED', null]);
    const running = await eventually(view, (found) => found.status === 'RUNNING', 120_000, 250);
    assert.deepEqual([running.status, running.error, running.modules], ['RUNNING', null, ['base', 'probe_module']]);
    const final = await daemon.deps.db.selectFrom('backups').selectAll().where('id', '=', done.finalBackupId).executeTakeFirstOrThrow();
    assert.deepEqual([final.kind, final.status], ['FINAL', 'COMPLETED']);
    assert.ok(final.finished_at! <= (await changeRow().executeTakeFirstOrThrow()).updated_at, 'the backup came before the job');
    assert.deepEqual(await partnerNames(id), ['Before any change']);
    const jobs = await daemon.deps.docker.listServices({ filters: { name: [moduleJobName(done.id)] } });
    assert.deepEqual(jobs, [], 'the job is removed');
  });

  it('a job that fails is rolled back from the FINAL backup: the tenant RUNNING on its old data, the error on the instance', async () => {
    // A module whose installation fails: the update Odoo makes of its row is refused.
    await withTenant(id, async (client) => {
      await client.query(`create function x_refuse_probe() returns trigger language plpgsql as $$
        begin if new.name = 'broken_probe' and new.state = 'installed' then raise exception 'broken_probe cannot be installed'; end if;
        return new; end $$`);
      await client.query('create trigger x_refuse_probe before update on ir_module_module for each row execute function x_refuse_probe()');
    });
    const asked = await daemon.gql(change('installModules'), { id, modules: ['broken_probe'] });
    assert.equal(asked.data?.installModules.status, 'RESTORING', JSON.stringify(asked.errors));
    await replaceDaemonAt('ROLLING_BACK');
    const instance = await settled();
    const [failed] = instance.moduleChanges;
    assert.equal(failed.status, 'FAILED');
    assert.match(failed.error, /broken_probe cannot be installed/);
    assert.equal(instance.status, 'RUNNING');
    assert.equal(instance.error, failed.error, 'the error stays on the instance once it runs again');
    assert.deepEqual(instance.conditions, [{ phase: 'MODULE_CHANGE', reason: failed.error }], "as the module change's condition");
    assert.match(
      instance.error,
      new RegExp(`^installModules \\(broken_probe\\) failed and was rolled back to backup ${failed.finalBackupId}: job failed`),
    );
    const restore = await daemon.deps.db
      .selectFrom('restores')
      .selectAll()
      .where('instance_id', '=', id)
      .orderBy('created_at', 'desc')
      .executeTakeFirstOrThrow();
    assert.deepEqual([restore.backup_id, restore.status], [failed.finalBackupId, 'COMPLETED']);
    assert.deepEqual(instance.modules, ['base', 'probe_module']);
    assert.equal(await moduleState(id, 'broken_probe'), 'uninstalled');
    assert.deepEqual(await partnerNames(id), ['Before any change']);
  });

  it('updates modules of a stopped tenant and leaves it stopped', async () => {
    await daemon.gql('mutation($id: ID!) { stopInstance(instanceId: $id) { id } }', { id });
    await eventually(view, (found) => found.status === 'STOPPED', 60_000, 250);
    const asked = await daemon.gql(change('updateModules'), { id, modules: ['probe_module'] });
    assert.equal(asked.data?.updateModules.status, 'RESTORING', JSON.stringify(asked.errors));
    const instance = await settled();
    assert.deepEqual([instance.moduleChanges[0].status, instance.status, instance.error], ['COMPLETED', 'STOPPED', null]);
    assert.deepEqual(instance.conditions, [], "the next change clears the last one's condition");
  });

  it("counts a customer's module changes with their manual backups and restores: 24 a day, each takes a FINAL backup", async () => {
    const actor = `customer:${defaultCustomerId}`;
    const earlier = Array.from({ length: 24 }, () => ({
      instance_id: id,
      kind: 'update' as const,
      modules: ['probe_module'],
      status: 'COMPLETED' as const,
      actor,
      previous_status: 'STOPPED' as const,
    }));
    await daemon.deps.db.insertInto('module_changes').values(earlier).execute();
    try {
      const owner = await customerToken(defaultCustomerId);
      const refused = await daemon.gql(change('updateModules'), { id, modules: ['probe_module'] }, { token: owner });
      expectError(refused, 'CONFLICT');
      assert.match(refused.errors[0]!.message, /At most 24 manual backups, restores and module changes a day/);
      const asAdmin = await daemon.gql(change('updateModules'), { id, modules: ['probe_module'] });
      assert.equal(asAdmin.data?.updateModules.status, 'RESTORING', 'admins are not counted');
      assert.equal((await settled()).moduleChanges[0].status, 'COMPLETED');
    } finally {
      await daemon.deps.db.deleteFrom('module_changes').where('actor', '=', actor).execute();
    }
  });
});
