import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { localPool, resetState, startTestDaemon, type TestDaemon } from './support/harness.js';

const foreign = 'https://evil.example';
const trusted = 'https://admin.example';

/** What a page on another site can make a browser send: the browser adds the Basic credentials it has seen. */
describe('cross-site requests with the admin credentials a browser holds', () => {
  let daemon: TestDaemon;
  let basic: string;
  const mutation = (name: string) =>
    `mutation { registerPool(input: { name: "${name}", host: "${localPool.host}", port: ${localPool.port}, adminUser: "${localPool.adminUser}", adminPassword: "${localPool.adminPassword}", maxInstances: 1 }) { id } }`;
  const poolNamed = async (name: string) =>
    daemon.deps.db.selectFrom('db_servers').select('id').where('name', '=', name).executeTakeFirst();
  const post = (contentType: string, body: string | FormData, origin = foreign) =>
    fetch(`${daemon.url}/graphql`, {
      method: 'POST',
      headers: { authorization: basic, origin, ...(contentType ? { 'content-type': contentType } : {}) },
      body,
    });

  before(async () => {
    daemon = await startTestDaemon({ CORS_ORIGINS: trusted });
    await resetState(daemon.deps);
    basic = `Basic ${Buffer.from(`admin:${daemon.deps.config.adminToken}`).toString('base64')}`;
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('runs nothing from an HTML form (urlencoded), multipart or text/plain POST', async () => {
    const form = await post('application/x-www-form-urlencoded', new URLSearchParams({ query: mutation('csrf-form') }).toString());
    const multipartBody = new FormData();
    multipartBody.set('operations', JSON.stringify({ query: mutation('csrf-multipart') }));
    multipartBody.set('map', '{}');
    const multipart = await fetch(`${daemon.url}/graphql`, {
      method: 'POST',
      headers: { authorization: basic, origin: foreign },
      body: multipartBody,
    });
    const text = await post('text/plain', JSON.stringify({ query: mutation('csrf-text') }));
    for (const [kind, response] of [
      ['form', form],
      ['multipart', multipart],
      ['text/plain', text],
    ] as const) {
      assert.ok(response.status >= 400 && response.status < 500, `${kind}: refused (${response.status})`);
      assert.equal(response.headers.get('access-control-allow-origin'), null, `${kind}: no CORS grant`);
    }
    for (const name of ['csrf-form', 'csrf-multipart', 'csrf-text'])
      assert.equal(await poolNamed(name), undefined, `${name} was not registered`);
  });

  it('runs nothing from a GET: no operation without the CSRF header, and never a mutation', async () => {
    const url = (query: string) => `${daemon.url}/graphql?query=${encodeURIComponent(query)}`;
    const bare = await fetch(url(mutation('csrf-get')), { headers: { authorization: basic, origin: foreign } });
    assert.equal(bare.status, 403);
    const withHeader = await fetch(url(mutation('csrf-get')), {
      headers: { authorization: basic, 'x-graphql-yoga-csrf': '1', accept: 'application/json' },
    });
    assert.equal(withHeader.status, 405, 'GraphQL over HTTP: mutations are POSTed');
    assert.equal(await poolNamed('csrf-get'), undefined);
    const query = await fetch(url('{ pools { id } }'), {
      headers: { authorization: basic, 'x-graphql-yoga-csrf': '1', accept: 'application/json' },
    });
    assert.equal(query.status, 200, 'a query may be a GET');
    assert.deepEqual((await query.json()).data, { pools: [] });
  });

  it('grants a foreign origin no CORS, on preflight or on a JSON POST', async () => {
    const preflight = await fetch(`${daemon.url}/graphql`, {
      method: 'OPTIONS',
      headers: {
        origin: foreign,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    assert.equal(preflight.headers.get('access-control-allow-credentials'), null);
    // A browser would not send this without a granted preflight; a script outside one may, and then reads nothing CORS-wise.
    const json = await post('application/json', JSON.stringify({ query: '{ pools { id } }' }));
    assert.equal(json.headers.get('access-control-allow-origin'), null);
  });

  it('grants the origin CORS_ORIGINS lists, with credentials', async () => {
    const preflight = await fetch(`${daemon.url}/graphql`, {
      method: 'OPTIONS',
      headers: {
        origin: trusted,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    assert.equal(preflight.headers.get('access-control-allow-origin'), trusted);
    assert.equal(preflight.headers.get('access-control-allow-credentials'), 'true');
    const response = await post('application/json', JSON.stringify({ query: '{ pools { id } }' }), trusted);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('access-control-allow-origin'), trusted);
  });

  it('grants no origin at all when CORS_ORIGINS is unset', async () => {
    const plain = await startTestDaemon();
    try {
      const preflight = await fetch(`${plain.url}/graphql`, {
        method: 'OPTIONS',
        headers: {
          origin: trusted,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      });
      assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    } finally {
      await plain.stop();
    }
  });

  it('keeps GraphiQL and its same-origin JSON requests working for the admin', async () => {
    const page = await fetch(`${daemon.url}/graphql`, { headers: { accept: 'text/html', authorization: basic } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Odoo orchestrator/);
    // GraphiQL POSTs JSON from the daemon's own origin, the browser adding the Basic credentials.
    const introspection = await fetch(`${daemon.url}/graphql`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/json', origin: daemon.url },
      body: JSON.stringify({ query: '{ __schema { queryType { name } } }' }),
    });
    assert.equal(introspection.status, 200);
    assert.deepEqual((await introspection.json()).data, { __schema: { queryType: { name: 'Query' } } });
  });
});
