import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { SwarmService, SwarmTask } from '../src/swarm/docker-types.js';
import { withPoolCatalog, registerLocalPool, resetState, startTestDaemon, type TestDaemon } from './support/harness.js';
import { PROVISION, allocatedInstance, settledInstance } from './support/odoo.js';

describe('provisioning failures reach the row', () => {
  let daemon: TestDaemon;
  before(async () => {
    // A short health start period: a task that never gets healthy is stopped by Swarm in seconds, not a minute.
    daemon = await startTestDaemon({ ODOO_RESTART_MAX_ATTEMPTS: '1', ODOO_RESTART_DELAY_SECONDS: '1', ODOO_HEALTH_START_SECONDS: '2' });
  });
  beforeEach(async () => {
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 10);
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('ends in FAILED naming the image when it does not exist', async () => {
    const missingImage = await startTestDaemon({ ODOO_IMAGE: 'local/does-not-exist:1', ODOO_RESTART_MAX_ATTEMPTS: '1' });
    try {
      const { id } = await allocatedInstance(missingImage);
      await missingImage.gql(PROVISION, { id });
      const settled = await settledInstance(missingImage, id);
      assert.equal(settled.status, 'FAILED');
      assert.match(settled.error!, /No such image: local\/does-not-exist:1/);
    } finally {
      await missingImage.stop();
    }
  });

  it('ends in FAILED soon after Swarm gives up on an Odoo that never gets healthy, though each of its tasks exits 0', async () => {
    // Odoo's workers quit at birth when born above their virtual-memory limits: the health check times out, Swarm stops
    // the task with SIGTERM, and Odoo exits 0, so the task ends `complete` rather than `failed`.
    // The replica provisioning it records the environment in the instance's spec; the leader (the suite's daemon) builds
    // the server from that record.
    const starved = await startTestDaemon({ ODOO_EXTRA_ENV: 'STANDIN_WORKER_VIRTUAL_MB=4096' });
    try {
      const { id } = await allocatedInstance(starved);
      await starved.gql(PROVISION, { id });
      const failed = await settledInstance(starved, id, 180_000);
      assert.equal(failed.status, 'FAILED');
      assert.match(failed.error!, /^Swarm gave up on Odoo after 2 tasks; last: task complete \(finished\), exit code 0/);
      assert.match(failed.error!, /health check: (Health check exceeded timeout \(3s\)|curl: \(\d+\) )/);
      assert.match(failed.error!, /log: .*Worker \(\d+\) virtual memory limit \(\d+\) reached\./s);
      const row = await starved.deps.db
        .selectFrom('instances')
        .select(['service_id', 'status_changed_at'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      const tasks = (await starved.deps.docker.listTasks({ filters: { service: [row.service_id!] } })) as SwarmTask[];
      const gaveUpAt = Math.max(...tasks.map((task) => Date.parse(task.Status.Timestamp)));
      const seconds = (row.status_changed_at.getTime() - gaveUpAt) / 1000;
      console.log(`[measure] Swarm gave up -> FAILED: ${seconds.toFixed(1)} s`);
      // Two of the default health intervals (5 s): what an operator waits at most to read why.
      assert.ok(seconds < 10, `FAILED ${seconds} s after Swarm gave up`);
    } finally {
      await starved.stop();
    }
  });

  it('ends in FAILED with the reason when the role password no longer matches, and runs once provisioned again', async () => {
    const { id, credentials } = await allocatedInstance(daemon);
    await withPoolCatalog((client) =>
      client.query(`alter role ${client.escapeIdentifier(credentials.db_user)} password 'changed-behind-its-back'`),
    );
    await daemon.gql(PROVISION, { id });
    const failed = await settledInstance(daemon, id);
    assert.equal(failed.status, 'FAILED');
    assert.match(failed.error!, /Odoo initialisation failed 2 times; last: task: non-zero exit \(1\), exit code 1/);
    assert.match(failed.error!, /password authentication failed for user "odoo_[0-9a-f]{32}_user"/);
    assert.ok(!failed.error!.includes(credentials.db_password));

    // The operator puts the password back; a new provisioning runs without credentials in Redis.
    await withPoolCatalog((client) =>
      client.query(`alter role ${client.escapeIdentifier(credentials.db_user)} password ${client.escapeLiteral(credentials.db_password)}`),
    );
    const retried = await daemon.gql(PROVISION, { id });
    assert.equal(retried.errors, undefined, JSON.stringify(retried.errors));
    assert.equal(retried.data.provisionInstance.status, 'PROVISIONING');
    const settled = await settledInstance(daemon, id);
    assert.equal(settled.status, 'RUNNING', settled.error ?? '');
    const services = (await daemon.deps.docker.listServices({
      filters: { label: [`odoo-orchestrator.instance-id=${id}`] },
    })) as unknown as SwarmService[];
    assert.deepEqual(
      services.map((service) => service.Spec.Labels['odoo-orchestrator.role']),
      ['server'],
      'the tenant service, and no init job left',
    );
  });
});
