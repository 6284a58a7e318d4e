import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { checkPoolHealth } from '../src/domain/pools/pool-health.js';
import { tenantDatabaseName } from '../src/domain/names.js';
import { probePool, withPoolAdmin } from '../src/db/pool-server.js';
import { poolAdminAccess } from '../src/domain/pools/pools.js';
import type { SwarmService } from '../src/swarm/docker-types.js';
import { liveTasks } from '../src/swarm/swarm.js';
import {
  CREATE_INSTANCE,
  PROVISION_POOL,
  eventually,
  instanceInput,
  poolWhen,
  registerLocalPool,
  resetState,
  runLabels,
  startTestDaemon,
  type TestDaemon,
  expectError,
} from './support/harness.js';
import { holdLock } from './support/isolation.js';
import { PROVISION, settledInstance, terminatedInstance } from './support/odoo.js';

const smallPool = { maxInstances: 3, memoryLimit: '256M', cpuLimit: 0.25 };

async function scalePoolService(daemon: TestDaemon, serviceName: string, replicas: number) {
  const service = daemon.deps.docker.getService(serviceName);
  const current = (await service.inspect()) as SwarmService & { Version: { Index: number } };
  await service.update({ ...current.Spec, Mode: { Replicated: { Replicas: replicas } }, version: current.Version.Index });
}

describe('PostgreSQL pools on the swarm', () => {
  let daemon: TestDaemon;
  before(async () => {
    // Pool services are named postgres-pool-N on the one swarm: one suite at a time provisions them.
    await holdLock('pools');
    // Reservations on, as in production: the 20 pools sized beyond this node below wait unscheduled instead of
    // starting 20 PostgreSQL servers on two cores.
    daemon = await startTestDaemon({ POOL_HEALTH_CRON: '0 0 1 1 *', POOL_PROVISIONING_CRON: '* * * * * *', SWARM_RESERVATIONS: 'on' });
  });
  beforeEach(() => resetState(daemon.deps));
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('provisions a pool that becomes ACTIVE once the daemon logs in, hosts a tenant, and frees the slot on termination', async () => {
    const provisioned = await daemon.gql(PROVISION_POOL, { input: smallPool });
    assert.equal(provisioned.errors, undefined, JSON.stringify(provisioned.errors));
    const pool = provisioned.data.provisionPool;
    assert.equal(pool.name, 'postgres-pool-1');
    assert.equal(pool.status, 'PROVISIONING');
    assert.equal(pool.tenantHost, 'postgres-pool-1');
    assert.equal(pool.tenantPort, 5432);
    assert.ok(pool.publishedPort >= 25432);

    const active = await poolWhen(daemon, pool.id, (view) => view.status !== 'PROVISIONING');
    assert.equal(active.status, 'ACTIVE', active.statusReason ?? '');
    assert.equal(active.healthStatus, 'HEALTHY');
    assert.equal(statSync(join(daemon.deps.config.cephfsRoot, 'postgres_pools', 'postgres-pool-1')).uid, 999);
    const poolRow = await daemon.deps.db.selectFrom('db_servers').selectAll().where('id', '=', pool.id).executeTakeFirstOrThrow();
    const settings = await withPoolAdmin(
      poolAdminAccess(poolRow, daemon.deps.config.masterKey),
      async (client) => (await client.query('show max_connections')).rows[0],
    );
    assert.equal(settings.max_connections, '50', 'max_connections was sized from maxInstances and passed with -c');

    const instance = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ memoryLimit: '512M', cpuLimit: 0.5 }) })).data
      .createInstance;
    assert.equal(instance.status, 'ALLOCATED');
    assert.deepEqual([instance.dbServerId, instance.dbHost, instance.dbPort], [pool.id, 'postgres-pool-1', 5432]);
    await daemon.gql(PROVISION, { id: instance.id });
    const settled = await settledInstance(daemon, instance.id);
    assert.equal(settled.status, 'RUNNING', `the tenant reached its pool over the overlay: ${settled.error}`);

    assert.equal((await terminatedInstance(daemon, instance.id)).terminated.status, 'TERMINATED');
    const released = await poolWhen(daemon, pool.id, () => true);
    assert.equal(released.currentInstances, 0);
    const remaining = await withPoolAdmin(poolAdminAccess(poolRow, daemon.deps.config.masterKey), (client) =>
      client.query('select 1 from pg_database where datname = $1', [tenantDatabaseName(instance.id)]),
    );
    assert.equal(remaining.rowCount, 0, 'the database is gone from the pool');
    assert.equal(
      (await daemon.deps.docker.listServices({ filters: { label: [`odoo-orchestrator.instance-id=${instance.id}`] } })).length,
      0,
    );
  });

  it('marks a pool whose server stopped DEGRADED then UNHEALTHY, allocates elsewhere, and recovers when it answers', async () => {
    const pool = (await daemon.gql(PROVISION_POOL, { input: { ...smallPool, priority: 1 } })).data.provisionPool;
    assert.equal((await poolWhen(daemon, pool.id, (view) => view.status !== 'PROVISIONING')).status, 'ACTIVE');
    const fallback = await registerLocalPool(daemon, 'pool-fallback', 5, 500);

    await scalePoolService(daemon, pool.serviceName, 0);
    // Its task gone first: a probe that only timed out on a busy machine says nothing about the server.
    await eventually(
      async () => (await liveTasks(daemon.deps.docker, pool.serviceName)).length,
      (count) => count === 0,
      60_000,
      500,
    );
    const poolRow = await daemon.deps.db.selectFrom('db_servers').selectAll().where('id', '=', pool.id).executeTakeFirstOrThrow();
    const stopped = await eventually(
      () => probePool(poolAdminAccess(poolRow, daemon.deps.config.masterKey), 1000),
      (probe) => !probe.ok,
      60_000,
      500,
    );
    assert.equal(stopped.ok, false, 'the server stopped');
    const views = [];
    for (let check = 0; check < 3; check++) {
      await checkPoolHealth(daemon.deps);
      views.push(await poolWhen(daemon, pool.id, () => true));
    }
    assert.deepEqual(
      views.map((view) => [view.healthStatus, view.healthFailures]),
      [
        ['DEGRADED', 1],
        ['DEGRADED', 2],
        ['UNHEALTHY', 3],
      ],
    );
    assert.ok(views[2].lastHealthError);

    const instance = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput() })).data.createInstance;
    assert.equal(instance.dbServerId, fallback.id, 'allocation skips the unhealthy pool');

    await scalePoolService(daemon, pool.serviceName, 1);
    const recovered = await eventually(
      async () => {
        await checkPoolHealth(daemon.deps);
        return poolWhen(daemon, pool.id, () => true);
      },
      (view) => view.healthStatus === 'HEALTHY',
      60_000,
      500,
    );
    assert.deepEqual([recovered.healthStatus, recovered.healthFailures, recovered.status], ['HEALTHY', 0, 'ACTIVE']);
  });

  it('gives 20 concurrent provisionPool calls 20 distinct names and ports, and decommissioning leaves nothing', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => daemon.gql(PROVISION_POOL, { input: { maxInstances: 1, memoryLimit: '256M', cpuLimit: 4 } })),
    );
    for (const result of results) assert.equal(result.errors, undefined, JSON.stringify(result.errors));
    const pools = results.map((result) => result.data.provisionPool);
    assert.deepEqual(pools.map((pool) => pool.name).sort(), Array.from({ length: 20 }, (_, i) => `postgres-pool-${i + 1}`).sort());
    assert.equal(new Set(pools.map((pool) => pool.publishedPort)).size, 20);
    assert.equal(
      (await daemon.deps.docker.listServices({ filters: { label: Object.entries(runLabels).map(([k, v]) => `${k}=${v}`) } })).length,
      20,
    );
    assert.equal(
      (await daemon.deps.docker.listSecrets({ filters: { label: Object.entries(runLabels).map(([k, v]) => `${k}=${v}`) } })).length,
      20,
    );

    for (const pool of pools) {
      const decommissioned = await daemon.gql('mutation($id: ID!) { decommissionPool(id: $id, deleteData: true) { status } }', {
        id: pool.id,
      });
      const unexpected = daemon.logs.filter((line) => line.includes('graphql.unexpected_error')).join('\n');
      assert.equal(
        decommissioned.data?.decommissionPool.status,
        'DECOMMISSIONED',
        `${JSON.stringify(decommissioned.errors)}\n${unexpected}`,
      );
    }
    assert.equal(
      (await daemon.deps.docker.listServices({ filters: { label: Object.entries(runLabels).map(([k, v]) => `${k}=${v}`) } })).length,
      0,
    );
    assert.equal(
      (await daemon.deps.docker.listSecrets({ filters: { label: Object.entries(runLabels).map(([k, v]) => `${k}=${v}`) } })).length,
      0,
    );
  });

  it('keeps capacity exact: maintenance, resizing, decommissioning and stats', async () => {
    const pool = await registerLocalPool(daemon, 'pool-capacity', 2);
    const first = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput() })).data.createInstance;
    await daemon.gql(CREATE_INSTANCE, { input: instanceInput() });
    const UPDATE =
      'mutation($id: ID!, $input: UpdatePoolInput!) { updatePool(id: $id, input: $input) { status maxInstances currentInstances } }';

    const tooSmall = await daemon.gql(UPDATE, { id: pool.id, input: { maxInstances: 1 } });
    expectError(tooSmall, 'VALIDATION_FAILED');
    assert.match(tooSmall.errors[0]!.message, /input\.maxInstances: must not be below the 2 instances the pool holds/);

    assert.deepEqual((await daemon.gql(UPDATE, { id: pool.id, input: { maxInstances: 4 } })).data.updatePool, {
      status: 'ACTIVE',
      maxInstances: 4,
      currentInstances: 2,
    });
    assert.equal((await daemon.gql(UPDATE, { id: pool.id, input: { maintenance: true } })).data.updatePool.status, 'MAINTENANCE');
    const waiting = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput() })).data.createInstance;
    assert.equal(waiting.status, 'WAITING_FOR_DATABASE', 'no allocation on a pool in maintenance');
    assert.equal((await daemon.gql(UPDATE, { id: pool.id, input: { maintenance: false } })).data.updatePool.status, 'ACTIVE');
    const allocated = await eventually(
      async () => (await daemon.gql('query($id: ID!) { instance(id: $id) { status dbServerId } }', { id: waiting.id })).data.instance,
      (instance) => instance.status === 'ALLOCATED',
      30_000,
      250,
    );
    assert.deepEqual(allocated, { status: 'ALLOCATED', dbServerId: pool.id }, 'the reconciler allocates it once the pool is back');

    const stats = await daemon.gql('{ poolStats { pools slotsUsed slotsFree byStatus { status pools slotsUsed slotsFree } } }');
    assert.deepEqual(stats.data.poolStats, {
      pools: 1,
      slotsUsed: 3,
      slotsFree: 1,
      byStatus: [{ status: 'ACTIVE', pools: 1, slotsUsed: 3, slotsFree: 1 }],
    });

    const refused = await daemon.gql('mutation($id: ID!) { decommissionPool(id: $id) { status } }', { id: pool.id });
    expectError(refused, 'CONFLICT');
    await terminatedInstance(daemon, first.id);
    const afterRelease = await poolWhen(daemon, pool.id, () => true);
    assert.equal(afterRelease.currentInstances, 2);
  });
});
