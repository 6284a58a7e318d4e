import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getIntrospectionQuery } from 'graphql';
import { startDaemonProcess, type DaemonProcess } from './support/daemon-process.js';
import { connectionReset, customerJwtSecret, customerToken, expectError } from './support/harness.js';

/** The heap the reproduction used; the stack gives a replica 512 MB in all. */
const HEAP_MB = 384;
const customer = '44444444-4444-4444-8444-444444444444';

const millionTokens = () => `{ ${'a '.repeat(1_000_000)}}`;
const aliases = (count: number, field = 'pools { id name host port }') =>
  `{ ${Array.from({ length: count }, (_, i) => `a${i}: ${field}`).join(' ')} }`;

/** A request whose connection the daemon closed while the body was still being sent (EPIPE, ECONNRESET). */
const closedEarly = (error: Error & { cause?: { code?: string } }): 'closed' => {
  if (error.cause?.code === 'EPIPE' || error.cause?.code === 'ECONNRESET') return 'closed';
  throw error;
};

describe('hostile documents against a replica with a small heap', () => {
  let daemon: DaemonProcess;
  let customerBearer: string;
  const post = (body: string, authorization?: string) =>
    fetch(`${daemon.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body,
    });
  const query = async (document: string, authorization: string) => {
    // The socket a refused document's connection was on may be handed out again as it closes: asked again, once.
    const send = () => post(JSON.stringify({ query: document }), authorization);
    const response = await send().catch((error: unknown) => {
      if (connectionReset(error)) return send();
      throw error;
    });
    return {
      status: response.status,
      body: (await response.json()) as { data?: any; errors?: { message: string; extensions?: { code?: string } }[] },
    };
  };
  const alive = async () => (await fetch(`${daemon.url}/healthz`)).status === 200;

  before(async () => {
    daemon = await startDaemonProcess({ JWT_SECRET: customerJwtSecret }, { heapMb: HEAP_MB });
    customerBearer = `Bearer ${await customerToken(customer)}`;
  });
  after(() => daemon.stop());

  it('refuses concurrent 2 MB anonymous documents before parsing them, and stays up', async () => {
    const documents = [
      JSON.stringify({ query: millionTokens() }),
      JSON.stringify({ query: aliases(20_000, '__typename') + ' '.repeat(1_700_000) }),
    ];
    assert.ok(documents.every((document) => document.length >= 1_900_000));
    const baseline = daemon.memoryMb().rss;
    const started = Date.now();
    let slowestHealthz = 0;
    for (let round = 0; round < 5; round++) {
      const healthz = (async () => {
        const asked = Date.now();
        assert.ok(await alive(), 'answers while under attack');
        slowestHealthz = Math.max(slowestHealthz, Date.now() - asked);
      })();
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => post(documents[i % 2]!).catch(closedEarly)));
      await healthz;
      for (const answer of answers) {
        // Refused either way: answered 401, or the connection closed on the rest of a document it never read.
        if (answer === 'closed') continue;
        assert.equal(answer.status, 401);
        assert.equal((await answer.json()).errors[0].extensions.code, 'UNAUTHENTICATED');
      }
    }
    assert.ok(await alive());
    const memory = daemon.memoryMb();
    console.log(
      `anonymous: 40 documents of ~2 MB (8 at once) refused in ${Date.now() - started} ms (slowest /healthz meanwhile ${slowestHealthz} ms); RSS ${baseline.toFixed(0)} MB before, ${memory.rss.toFixed(0)} MB after, peak ${memory.peak.toFixed(0)} MB (heap limit ${HEAP_MB} MB)`,
    );
  });

  it("refuses a customer's oversized documents by size, tokens, depth and aliases, and stays up", async () => {
    const started = Date.now();
    const huge = await Promise.all(
      Array.from({ length: 8 }, () => post(JSON.stringify({ query: millionTokens() }), customerBearer).catch(closedEarly)),
    );
    // Refused either way: answered 413, or the connection closed on the rest of a document it never read.
    const answered = huge.filter((answer) => answer !== 'closed');
    assert.ok(answered.length > 0, 'at least one refusal is read');
    for (const answer of answered) assert.equal(answer.status, 413, 'over the body limit');
    const tokens = await query(`{ ${'instances { totalCount } '.repeat(2000)}}`, customerBearer);
    assert.match(tokens.body.errors![0]!.message, /token/i);
    const deep = await query(`{ instances { nodes { ${'a { '.repeat(10)}b${' }'.repeat(10)} } } }`, customerBearer);
    assert.ok(
      deep.body.errors?.some((error) => /depth/i.test(error.message)),
      `too deep: ${JSON.stringify(deep.body.errors)}`,
    );
    const many = await query(aliases(20), customerBearer);
    assert.match(many.body.errors![0]!.message, /alias/i);
    assert.ok(await alive());
    const memory = daemon.memoryMb();
    console.log(
      `customer: oversized documents refused in ${Date.now() - started} ms; RSS ${memory.rss.toFixed(0)} MB, peak ${memory.peak.toFixed(0)} MB`,
    );
  });

  it("bounds a customer's query cost, e.g. every instance's events under aliases", async () => {
    const costly = await query(
      '{ instances(first: 200) { nodes { id events { nodes { id from to cause actor message at } } } } }',
      customerBearer,
    );
    expectError(costly.body, 'VALIDATION_FAILED');
    assert.match(costly.body.errors[0]!.message, /costs \d+ \(at most \d+\)/);
    const throughEdges = await query(
      '{ instances(first: 200) { edges { node { id events { edges { node { id from to cause actor message at } } } } } } }',
      customerBearer,
    );
    assert.equal(throughEdges.body.errors?.[0]?.extensions?.code, 'VALIDATION_FAILED', 'edges cost what nodes cost');
    const aliased = await query(
      `{ ${Array.from({ length: 10 }, (_, i) => `a${i}: instances(first: 50) { nodes { id events(first: 20) { nodes { id } } } }`).join(' ')} }`,
      customerBearer,
    );
    expectError(aliased.body, 'VALIDATION_FAILED');
    const modest = await query(
      '{ instances(first: 20) { totalCount pageInfo { hasNextPage endCursor } nodes { id status events(first: 10) { nodes { to at } } } } }',
      customerBearer,
    );
    assert.equal(modest.body.errors, undefined, JSON.stringify(modest.body.errors));
    assert.equal(modest.body.data.instances.totalCount, 0);
  });

  it('keeps introspection and field suggestions for admins', async () => {
    const admin = `Bearer ${process.env.ADMIN_TOKEN}`;
    const introspection = '{ __schema { types { name } } }';
    const refused = await query(introspection, customerBearer);
    assert.match(refused.body.errors![0]!.message, /introspection/i);
    // GraphiQL's own introspection query stays within every limit.
    const full = await query(getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true, schemaDescription: true }), admin);
    assert.equal(full.body.errors, undefined, JSON.stringify(full.body.errors));
    assert.ok(full.body.data.__schema.types.length > 10);
    const customerTypo = await query('{ instancez { totalCount } }', customerBearer);
    assert.doesNotMatch(customerTypo.body.errors![0]!.message, /Did you mean/);
    const adminTypo = await query('{ instancez { totalCount } }', admin);
    assert.match(adminTypo.body.errors![0]!.message, /Did you mean .*"instances"/);
    assert.ok(!daemon.exited());
  });
});
