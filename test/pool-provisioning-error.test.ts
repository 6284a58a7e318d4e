import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { trackPoolProvisioning } from '../src/domain/pools/pool-tracking.js';
import { PROVISION_POOL, eventually, poolWhen, resetState, startTestDaemon, testRun, type TestDaemon } from './support/harness.js';

/**
 * A file of its own, beside test/pools.test.ts: its pool is named after this run and takes ports of its own, so it
 * needs no turn with the suites whose pools are named postgres-pool-N, and its half a minute of waiting runs beside them.
 */
describe('a pool provisioning that cannot succeed', () => {
  let failing: TestDaemon;
  before(async () => {
    failing = await startTestDaemon({
      POSTGRES_POOL_IMAGE: 'local/does-not-exist:1',
      POOL_PROVISION_DEADLINE_SECONDS: '15',
      POOL_PUBLISHED_PORTS: '26900-26999',
      // The test runs the provisioning job itself, as often as it looks.
      POOL_PROVISIONING_CRON: '0 0 1 1 *',
      POOL_HEALTH_CRON: '0 0 1 1 *',
    });
    await resetState(failing.deps);
  });
  after(async () => {
    await resetState(failing.deps);
    await failing.stop();
  });

  it('ends in ERROR with the reason, leaving no service or secret', async () => {
    const input = { name: `${testRun}-missing-image`, maxInstances: 3, memoryLimit: '256M', cpuLimit: 0.25 };
    const pool = (await failing.gql(PROVISION_POOL, { input })).data.provisionPool;
    assert.equal(pool.status, 'PROVISIONING');
    const failed = await eventually(
      async () => {
        await trackPoolProvisioning(failing.deps);
        return poolWhen(failing, pool.id, () => true);
      },
      (view) => view.status !== 'PROVISIONING',
      60_000,
      1000,
    );
    assert.equal(failed.status, 'ERROR');
    // Swarm gives up first, or the deadline passes first: either way the reason names the missing image.
    assert.match(
      failed.statusReason,
      /^PostgreSQL (was not running before the deadline|failed \d+ times).*No such image: local\/does-not-exist:1/,
    );
    const label = [`odoo-orchestrator.pool-id=${pool.id}`];
    assert.equal((await failing.deps.docker.listServices({ filters: { label } })).length, 0);
    assert.equal((await failing.deps.docker.listSecrets({ filters: { label } })).length, 0);
  });
});
