import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { credentialsKey } from '../src/domain/names.js';
import type { SwarmService, SwarmTask } from '../src/swarm/docker-types.js';
import { instanceLabels, labelFilters } from '../src/swarm/labels.js';
import {
  CREATE_INSTANCE,
  instanceInput,
  connectAsTenant,
  registerLocalPool,
  resetState,
  runLabels,
  startTestDaemon,
  type TestDaemon,
  expectError,
} from './support/harness.js';
import { PROVISION, allocatedInstance, settledBySuccessor, settledInstance } from './support/odoo.js';

describe('provisioning Odoo on the swarm', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await startTestDaemon();
  });
  beforeEach(async () => {
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 10);
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('runs Odoo on its allocated database and leaves the password only in the Docker secret', async () => {
    const { id, credentials } = await allocatedInstance(daemon);
    const provisioned = await daemon.gql(PROVISION, { id });
    assert.equal(provisioned.errors, undefined, JSON.stringify(provisioned.errors));
    assert.equal(provisioned.data.provisionInstance.status, 'PROVISIONING');
    assert.match(provisioned.data.provisionInstance.serviceName, /^odoo-acme-/);
    assert.equal(await daemon.deps.redis.exists(credentialsKey(id)), 0, 'the Redis key is gone once Docker has the secret');

    const settled = await settledInstance(daemon, id);
    assert.equal(settled.status, 'RUNNING', settled.error ?? '');
    assert.equal(settled.error, null);

    // What the stand-in wrote with the credentials it was given.
    const tenant = await connectAsTenant(credentials);
    const modules = await tenant.query("select name, state from ir_module_module where name = 'base'");
    // Made as Odoo makes a database: C collation, and pg_trgm (its trigram indexes need it), the tenant's own.
    const made = await tenant.query(
      "select datcollate, (select pg_get_userbyid(extowner) from pg_extension where extname = 'pg_trgm') as trgm from pg_database where datname = current_database()",
    );
    await tenant.end();
    assert.deepEqual(modules.rows, [{ name: 'base', state: 'installed' }]);
    assert.deepEqual(made.rows, [{ datcollate: 'C', trgm: credentials.db_user }]);

    const dataDir = join(daemon.deps.config.cephfsRoot, 'odoo_instances', id);
    assert.equal(statSync(dataDir).uid, 101, 'the data directory belongs to the image user');
    assert.ok(existsSync(join(dataDir, 'filestore', credentials.db_name)), 'the filestore landed under CEPHFS_ROOT');
    assert.ok(readdirSync(join(dataDir, 'filestore', credentials.db_name)).length > 0);

    const [service] = (await daemon.deps.docker.listServices({ filters: labelFilters(instanceLabels(id)) })) as unknown as SwarmService[];
    assert.ok(service);
    const serviceJson = JSON.stringify(await daemon.deps.docker.getService(service.ID).inspect());
    assert.ok(!serviceJson.includes(credentials.db_password), 'no password in docker service inspect');
    assert.ok(!/PASSWORD/.test(serviceJson), 'neither PASSWORD nor PASSWORD_FILE: Odoo reads its config file');
    const tasks = (await daemon.deps.docker.listTasks({ filters: { service: [service.ID] } })) as SwarmTask[];
    const running = tasks.find((task) => task.Status.State === 'running');
    const containerId = running?.Status.ContainerStatus?.ContainerID;
    assert.ok(containerId);
    const container = await daemon.deps.docker.getContainer(containerId).inspect();
    assert.ok(!JSON.stringify(container.Config.Env).includes(credentials.db_password), "no password in the task's environment");
    assert.ok(container.Config.Env.includes('ODOO_RC=/run/secrets/odoo.conf'));
    for (const line of daemon.logs) assert.ok(!line.includes(credentials.db_password), `password in a log line: ${line}`);
  });

  it('creates one secret and one service when provisioning arrives twice at once, and again later', async () => {
    const { id } = await allocatedInstance(daemon);
    const results = await Promise.all([1, 2, 3].map(() => daemon.gql(PROVISION, { id })));
    for (const result of results) assert.equal(result.errors, undefined, JSON.stringify(result.errors));
    const again = await daemon.gql(PROVISION, { id });
    assert.equal(again.errors, undefined);
    assert.equal(again.data.provisionInstance.status, 'PROVISIONING');
    const services = await daemon.deps.docker.listServices({ filters: labelFilters(instanceLabels(id)) });
    const secrets = await daemon.deps.docker.listSecrets({ filters: labelFilters(instanceLabels(id)) });
    assert.equal(services.length, 1);
    assert.equal(secrets.length, 1);
  });

  it('refuses an instance without a database, creating nothing', async () => {
    await daemon.deps.db.updateTable('db_servers').set({ status: 'maintenance' }).execute();
    const waiting = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput() })).data.createInstance;
    assert.equal(waiting.status, 'WAITING_FOR_DATABASE');
    const notAllocated = await daemon.gql(PROVISION, { id: waiting.id });
    expectError(notAllocated, 'DATABASE_NOT_ALLOCATED');
    assert.equal(notAllocated.errors?.[0]?.message, 'Database not allocated. Cannot provision instance.');
    assert.equal((await daemon.deps.docker.listServices({ filters: labelFilters(runLabels) })).length, 0);
    assert.equal((await daemon.deps.docker.listSecrets({ filters: labelFilters(runLabels) })).length, 0);
  });

  it('is followed to RUNNING by a daemon started after the one that provisioned it stopped', async () => {
    const { id } = await allocatedInstance(daemon);
    await daemon.gql(PROVISION, { id });
    await daemon.daemon.leadership.stop();
    const row = await daemon.deps.db.selectFrom('instances').select('status').where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(row.status, 'PROVISIONING');

    assert.deepEqual(await settledBySuccessor(daemon, id, 120_000), { status: 'RUNNING', error: null });
  });
});
