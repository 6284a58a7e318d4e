import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { trackInstances } from '../src/jobs/instance-tracking.js';
import { CREATE_INSTANCE, eventually, instanceInput, resetState, startTestDaemon, type TestDaemon } from './support/harness.js';
import { holdLock } from './support/isolation.js';

describe('automatic pool growth', () => {
  let daemon: TestDaemon;
  before(async () => {
    // Pool services are named postgres-pool-N on the one swarm: one suite at a time provisions them.
    await holdLock('pools');
    daemon = await startTestDaemon({
      POOL_GROWTH: 'on',
      POOL_GROWTH_MAX_INSTANCES: '10',
      POOL_GROWTH_MEMORY_MB: '256',
      POOL_GROWTH_CPU_LIMIT: '0.25',
      POOL_PROVISIONING_CRON: '* * * * * *',
      POOL_HEALTH_CRON: '0 0 1 1 *',
    });
    await resetState(daemon.deps);
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('provisions exactly one pool for many waiting instances, across restarts, and allocates them all once it is active', async () => {
    const created = await Promise.all(Array.from({ length: 8 }, () => daemon.gql(CREATE_INSTANCE, { input: instanceInput() })));
    const ids = created.map((result) => {
      assert.equal(result.errors, undefined, JSON.stringify(result.errors));
      assert.equal(result.data.createInstance.status, 'WAITING_FOR_DATABASE');
      return result.data.createInstance.id as string;
    });
    const poolsWhileWaiting = await daemon.deps.db.selectFrom('db_servers').select(['name', 'status', 'provision_reason']).execute();
    assert.deepEqual(poolsWhileWaiting, [{ name: 'postgres-pool-1', status: 'provisioning', provision_reason: 'growth' }]);

    // A second daemon (a restart, or another replica) retrying the waiting instances does not start another pool.
    const successor = await startTestDaemon({ POOL_GROWTH: 'on', POOL_GROWTH_MAX_INSTANCES: '10', POOL_PROVISIONING_CRON: '0 0 1 1 *' });
    await trackInstances(successor.deps);
    await successor.stop();
    assert.equal((await daemon.deps.db.selectFrom('db_servers').select('id').execute()).length, 1);

    const allocated = await eventually(
      () => daemon.deps.db.selectFrom('instances').select(['id', 'status', 'db_host']).where('id', 'in', ids).execute(),
      (rows) => rows.every((row) => row.status === 'ALLOCATED'),
      120_000,
      500,
    );
    assert.deepEqual(new Set(allocated.map((row) => `${row.status}@${row.db_host}`)), new Set(['ALLOCATED@postgres-pool-1']));
    const pools = await daemon.deps.db.selectFrom('db_servers').select(['name', 'status', 'current_instances']).execute();
    assert.deepEqual(pools, [{ name: 'postgres-pool-1', status: 'active', current_instances: 8 }]);
  });
});
