import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually, registerLocalPool, resetState, startTestDaemon, type TestDaemon } from './support/harness.js';
import { PROVISION, RESTART, allocatedInstance, settledInstance, statusOf } from './support/odoo.js';
import { tenantState } from './support/tenant.js';

// A file of its own (tenant-initialisation.test.ts has the slow initialisation): npm test runs them side by side.
describe('tenant readiness without a slow initialisation (STANDIN_INIT_SECONDS=0)', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await startTestDaemon({ ODOO_EXTRA_ENV: 'STANDIN_INIT_SECONDS=0' });
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 10);
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('reaches RUNNING initialised, and restarts (timings printed, not asserted)', async (t) => {
    const { id } = await allocatedInstance(daemon);
    let started = Date.now();
    await daemon.gql(PROVISION, { id });
    const settled = await settledInstance(daemon, id);
    t.diagnostic(`STANDIN_INIT_SECONDS=0: provisionInstance to RUNNING ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(settled.status, 'RUNNING', settled.error ?? '');
    assert.equal((await tenantState(id)).base, 'installed');

    started = Date.now();
    await daemon.gql(RESTART, { id });
    const restarted = await eventually(
      () => statusOf(daemon, id),
      (status) => status !== 'RESTARTING',
      180_000,
      250,
    );
    t.diagnostic(`STANDIN_INIT_SECONDS=0: restartInstance to RUNNING ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(restarted, 'RUNNING');
  });
});
