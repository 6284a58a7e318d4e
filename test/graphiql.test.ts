import assert from 'node:assert/strict';
import { Agent, get } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startTestDaemon, type TestDaemon } from './support/harness.js';

describe('GraphiQL', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await startTestDaemon();
  });
  after(() => daemon.stop());

  const open = (authorization?: string) =>
    fetch(`${daemon.url}/graphql`, { headers: { accept: 'text/html', ...(authorization ? { authorization } : {}) } });

  it('asks a browser without the admin token for it', async () => {
    const response = await open();
    assert.equal(response.status, 401);
    assert.match(response.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    const wrong = await open(`Basic ${Buffer.from('admin:guess').toString('base64')}`);
    assert.equal(wrong.status, 401);
  });

  it('serves GraphiQL to an admin with every asset inline (no network needed)', async () => {
    const response = await open(`Basic ${Buffer.from(`admin:${daemon.deps.config.adminToken}`).toString('base64')}`);
    assert.equal(response.status, 200);
    const html = await response.text();
    assert.match(html, /<title>Odoo orchestrator<\/title>/);
    const external = [...html.matchAll(/<(?:script|link)[^>]+(?:src|href)="(https?:[^"]+)"/g)].map((match) => match[1]);
    assert.deepEqual(external, [], 'no script or stylesheet from another host');
    assert.doesNotMatch(html, /unpkg\.com|cdn\.jsdelivr\.net/);
  });

  it('keeps an idle connection open for the proxy in front: a request sent on it 10 s later is answered', async () => {
    // Traefik reuses an idle connection to the daemon for up to 90 s; Node's own default would close it after 5.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const healthz = () =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const request = get(`${daemon.url}/healthz`, { agent }, (response) => {
          response.resume();
          response.on('end', () => resolve({ status: response.statusCode ?? 0, reused: request.reusedSocket }));
        });
        request.on('error', reject);
      });
    try {
      assert.deepEqual(await healthz(), { status: 200, reused: false });
      await sleep(10_000);
      assert.deepEqual(await healthz(), { status: 200, reused: true });
    } finally {
      agent.destroy();
    }
  });

  it('answers liveness without a token', async () => {
    const response = await fetch(`${daemon.url}/healthz`);
    assert.equal(response.status, 200);
    assert.equal((await response.json()).status, 'ok');
  });
});
