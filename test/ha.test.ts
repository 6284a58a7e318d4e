import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { storageModeNote } from '../src/storage/storage.js';
import { eventually, registerLocalPool, resetState, scrapeMetrics, startTestDaemon, type TestDaemon } from './support/harness.js';
import { PROVISION, allocatedInstance, settledInstance } from './support/odoo.js';

const isLeader = async (daemon: TestDaemon) => ((await (await fetch(`${daemon.url}/healthz`)).json()) as { leader: boolean }).leader;

describe('two replicas: one leader, takeover, signals', () => {
  let first: TestDaemon;
  let second: TestDaemon;
  before(async () => {
    first = await startTestDaemon({ LEADER_RETRY_MS: '500' });
    await eventually(() => isLeader(first), Boolean, 10_000);
    second = await startTestDaemon({ LEADER_RETRY_MS: '500' });
    await resetState(first.deps);
    await registerLocalPool(first, 'pool-local', 5);
  });
  after(async () => {
    await resetState(second.deps);
    await second.stop();
  });

  it('runs the scheduler on exactly one replica, and the other finishes what was in flight when the leader stops', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual([await isLeader(first), await isLeader(second)], [true, false]);
    const metrics = await (await scrapeMetrics(second.url)).text();
    assert.match(metrics, /^orchestrator_leader 0$/m);

    const { id } = await allocatedInstance(second);
    const provisioned = await second.gql(PROVISION, { id });
    assert.equal(provisioned.data.provisionInstance.status, 'PROVISIONING');
    const stoppedAt = Date.now();
    await first.stop();

    await eventually(() => isLeader(second), Boolean, 10_000, 100);
    const takeoverMs = Date.now() - stoppedAt;
    assert.ok(await isLeader(second), 'the surviving replica leads');
    assert.ok(second.logs.some((line) => line.includes('"event":"leader.acquired"')));
    const settled = await settledInstance(second, id);
    assert.equal(settled.status, 'RUNNING', settled.error ?? '');
    process.stderr.write(`leader takeover after ${takeoverMs} ms\n`);
  });

  it('reports readiness and Prometheus metrics, and ties log lines to request ids', async () => {
    const ready = await fetch(`${second.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), {
      status: 'ready',
      postgres: 'ok',
      redis: 'ok',
      docker: 'ok',
      storage: 'ok',
      offsite: 'not configured: backups stay local only',
      storageMode: storageModeNote(process.env.CEPHFS_MODE === 'plain' ? 'plain' : 'ceph'),
    });

    // The state gauges are read from the database at each scrape, each read given 1 s: on a loaded machine one may give
    // up and keep its last values (`orchestrator_state_fresh 0`), and a scraper sees fresh ones at its next scrape.
    const metrics = await eventually(
      async () => (await scrapeMetrics(second.url)).text(),
      (text) => /^orchestrator_state_fresh 1$/m.test(text),
      15_000,
    );
    assert.match(metrics, /^orchestrator_leader 1$/m);
    assert.match(metrics, /^orchestrator_instances\{status="RUNNING"\} 1$/m);
    assert.match(metrics, /^orchestrator_pool_slots\{state="used"\} 1$/m);
    assert.match(metrics, /^orchestrator_pool_slots\{state="free"\} 4$/m);
    assert.match(metrics, /^orchestrator_scheduler_runs_total\{task="instance-tracking",outcome="ok"\} \d+$/m);
    assert.match(metrics, /^orchestrator_allocation_duration_seconds_count\{outcome="allocated"\} 1$/m);
    assert.match(metrics, /^orchestrator_provisioning_duration_seconds_count\{outcome="running"\} 1$/m);

    const response = await fetch(`${second.url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-request-id': 'req-from-proxy-1234',
        authorization: `Bearer ${second.deps.config.adminToken}`,
      },
      body: JSON.stringify({ query: '{ pools { name } }' }),
    });
    assert.equal(response.headers.get('x-request-id'), 'req-from-proxy-1234');
    await response.text();
    assert.ok(second.logs.some((line) => line.includes('"requestId":"req-from-proxy-1234"') && line.includes('"path":"/graphql"')));
  });

  it('is not ready while Redis does not answer', async () => {
    const cut = await startTestDaemon({ REDIS_URL: 'redis://127.0.0.1:1/0', LEADER_RETRY_MS: '60000' });
    try {
      const ready = await fetch(`${cut.url}/readyz`);
      assert.equal(ready.status, 503);
      const body = (await ready.json()) as Record<string, string>;
      assert.equal(body.status, 'not ready');
      assert.equal(body.postgres, 'ok');
      assert.notEqual(body.redis, 'ok');
    } finally {
      await cut.stop();
    }
  });
});
