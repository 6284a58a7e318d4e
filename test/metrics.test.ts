import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createMetrics, registerStateGauges } from '../src/observability/metrics.js';
import { projectRoot } from '../src/project-root.js';
import { metricsToken, scrapeMetrics, startTestDaemon, type TestDaemon } from './support/harness.js';

const version = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;

describe('Prometheus conventions', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await startTestDaemon();
  });
  after(() => daemon.stop());

  const scrape = async () => (await scrapeMetrics(daemon.url)).text();

  it('names default metrics the standard way, labels no series `job`, and says which build runs', async () => {
    const metrics = await scrape();
    assert.match(metrics, /^process_cpu_seconds_total \d/m);
    assert.match(metrics, /^nodejs_heap_size_used_bytes \d/m);
    assert.doesNotMatch(metrics, /orchestrator_process_/);
    assert.doesNotMatch(metrics, /[{,]job="/);
    assert.match(
      metrics,
      new RegExp(
        `^orchestrator_build_info\\{version="${version.replace(/\./g, '\\.')}",node_version="${process.versions.node}"\\} 1$`,
        'm',
      ),
    );
  });

  it('counts HTTP requests by route and GraphQL operations by name and outcome', async () => {
    await daemon.gql('query PoolsForMetrics { pools { id } }');
    await daemon.gql('query BrokenForMetrics { instance(id: "not-a-uuid") { id } }');
    await fetch(`${daemon.url}/no/such/path/${'x'.repeat(50)}`);
    const metrics = await scrape();
    assert.match(metrics, /^orchestrator_graphql_operations_total\{type="query",name="PoolsForMetrics",outcome="ok"\} 1$/m);
    assert.match(metrics, /^orchestrator_graphql_operations_total\{type="query",name="BrokenForMetrics",outcome="errors"\} 1$/m);
    assert.match(metrics, /^orchestrator_graphql_operation_duration_seconds_count\{type="query",name="PoolsForMetrics"\} 1$/m);
    assert.match(metrics, /^http_requests_total\{method="POST",route="\/graphql",code="200"\} [2-9]$/m);
    assert.match(metrics, /^http_requests_total\{method="GET",route="other",code="404"\} 1$/m);
    assert.match(metrics, /^http_request_duration_seconds_count\{method="POST",route="\/graphql"\} [2-9]$/m);
    assert.doesNotMatch(metrics, /no\/such\/path/);
  });

  it('answers only a scraper with METRICS_TOKEN, or an admin: a tenant on the overlay reads nothing', async () => {
    const status = async (authorization?: string) =>
      (await fetch(`${daemon.url}/metrics`, { headers: authorization ? { authorization } : {} })).status;
    assert.equal(await status(), 401);
    assert.equal(await status('Bearer not-the-metrics-token-at-all'), 401);
    assert.equal(await status(`Basic ${Buffer.from(`prometheus:${metricsToken}`).toString('base64')}`), 401);
    assert.equal((await scrapeMetrics(daemon.url)).status, 200);
    assert.equal(await status(`Bearer ${daemon.deps.config.adminToken}`), 200);
  });

  it('says the state gauges are stale when any one read fails, whichever read finishes last', async () => {
    const metrics = createMetrics();
    // The pool read fails at once; the others answer from the database after it.
    registerStateGauges(metrics, daemon.deps.db, () => Promise.reject(new Error('pool read refused')));
    for (let scrape = 1; scrape <= 3; scrape++) {
      const text = await metrics.registry.metrics();
      assert.match(text, /^orchestrator_state_fresh 0$/m, `scrape ${scrape}`);
    }
    const healthy = createMetrics();
    registerStateGauges(healthy, daemon.deps.db, () => Promise.resolve({ used: 1, free: 2 }));
    const text = await healthy.registry.metrics();
    assert.match(text, /^orchestrator_state_fresh 1$/m);
    assert.match(text, /^orchestrator_pool_slots\{state="used"\} 1$/m);
  });
});
