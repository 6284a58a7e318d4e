import assert from 'node:assert/strict';
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

  it('answers liveness without a token', async () => {
    const response = await fetch(`${daemon.url}/healthz`);
    assert.equal(response.status, 200);
    assert.equal((await response.json()).status, 'ok');
  });
});
