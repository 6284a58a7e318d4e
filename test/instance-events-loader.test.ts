import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from '../src/db/schema.js';
import { recordEvent } from '../src/domain/instances/instance-events.js';
import { createGraphQLHandler } from '../src/http/graphql.js';
import { CREATE_INSTANCE, instanceInput, resetState, startTestDaemon, type TestDaemon } from './support/harness.js';

interface EventsPage {
  nodes: { id: string; message: string | null }[];
  edges: { cursor: string }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string | null };
}

/** `Instance.events` through a dataloader: a page of instances reads all their events in one SQL statement. */
describe("a page of instances' events", () => {
  let daemon: TestDaemon;
  let pool: pg.Pool;
  /** Every SQL statement the handler below sent, in order. */
  const statements: string[] = [];
  let graphql: (
    query: string,
    variables?: Record<string, unknown>,
  ) => Promise<{ data?: any; errors?: { message: string; extensions?: { code?: string } }[] }>;
  /** Instance id to how many events it has: each a different number, so per-instance limits show. */
  const eventCounts = new Map<string, number>();

  before(async () => {
    daemon = await startTestDaemon();
    await resetState(daemon.deps);
    // No pool: each instance waits for a database, and has its own history besides.
    for (let i = 0; i < 4; i++) {
      const { id } = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput() })).data.createInstance;
      for (let n = 0; n < i * 2; n++) await recordEvent(daemon.deps, daemon.deps.db, id, { cause: 'test', actor: 'admin' }, `note ${n}`);
      const { count } = await daemon.deps.db
        .selectFrom('instance_events')
        .select((eb) => eb.fn.countAll<string>().as('count'))
        .where('instance_id', '=', id)
        .executeTakeFirstOrThrow();
      eventCounts.set(id, Number(count));
    }
    // The daemon's GraphQL handler, its database handle logging each statement it runs.
    pool = new pg.Pool({ connectionString: daemon.deps.config.databaseUrl, max: 2 });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: (event) => void statements.push(event.query.sql) });
    const handler = createGraphQLHandler({ ...daemon.deps, db });
    graphql = async (query, variables) => {
      const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) };
      return (await handler.fetch('http://daemon/graphql', init, { caller: { kind: 'admin' } })).json();
    };
  });
  after(async () => {
    await pool.end();
    await resetState(daemon.deps);
    await daemon.stop();
  });

  const eventStatements = () => statements.filter((sql) => /"instance_events"/.test(sql));
  const storedEvents = async (instanceId: string) =>
    (
      await daemon.deps.db
        .selectFrom('instance_events')
        .select(['id', 'message'])
        .where('instance_id', '=', instanceId)
        .orderBy('id')
        .execute()
    ).map((row) => ({
      id: row.id,
      message: row.message,
    }));

  it('reads the events of every instance on the page in one statement, each its own, oldest first', async () => {
    statements.length = 0;
    const result = await graphql(
      '{ instances(first: 10) { nodes { id events(first: 3) { nodes { id message } pageInfo { hasNextPage } } } } }',
    );
    assert.equal(result.errors, undefined, JSON.stringify(result.errors));
    const instances: { id: string; events: EventsPage }[] = result.data.instances.nodes;
    assert.equal(instances.length, 4);
    assert.equal(eventStatements().length, 1, eventStatements().join('\n'));
    for (const instance of instances) {
      const stored = await storedEvents(instance.id);
      assert.deepEqual(instance.events.nodes, stored.slice(0, 3), `events of ${instance.id}`);
      assert.equal(instance.events.pageInfo.hasNextPage, eventCounts.get(instance.id)! > 3);
    }
    assert.ok(
      instances.some((instance) => instance.events.pageInfo.hasNextPage) &&
        instances.some((instance) => !instance.events.pageInfo.hasNextPage),
    );
  });

  it('reads once per place in the query: aliases with their own arguments each get theirs', async () => {
    statements.length = 0;
    const result = await graphql(`
      {
        instances(first: 10) {
          edges {
            node {
              id
              one: events(first: 1) {
                nodes {
                  id
                  message
                }
              }
              all: events(first: 1000) {
                nodes {
                  id
                  message
                }
              }
            }
          }
        }
      }
    `);
    assert.equal(result.errors, undefined, JSON.stringify(result.errors));
    const instances: { node: { id: string; one: EventsPage; all: EventsPage } }[] = result.data.instances.edges;
    assert.equal(instances.length, 4);
    assert.equal(eventStatements().length, 2, eventStatements().join('\n'));
    for (const { node } of instances) {
      const stored = await storedEvents(node.id);
      assert.deepEqual(node.one.nodes, stored.slice(0, 1));
      assert.deepEqual(node.all.nodes, stored);
    }
  });

  it("pages through one instance's events with `after`", async () => {
    const [busiest] = [...eventCounts].sort((a, b) => b[1] - a[1])[0]!;
    const query = `query($id: ID!, $after: String) { instance(id: $id) { events(first: 2, after: $after) {
      nodes { id message } edges { cursor } pageInfo { hasNextPage hasPreviousPage endCursor } } } }`;
    const seen: { id: string; message: string | null }[] = [];
    let after: string | null = null;
    for (let pages = 1; ; pages++) {
      const result = await graphql(query, { id: busiest, after });
      assert.equal(result.errors, undefined, JSON.stringify(result.errors));
      const page: EventsPage = result.data.instance.events;
      assert.equal(page.pageInfo.hasPreviousPage, after !== null);
      assert.equal(page.pageInfo.endCursor, page.edges.at(-1)?.cursor ?? null);
      seen.push(...page.nodes);
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
      assert.ok(pages < 10, 'the pages end');
    }
    assert.deepEqual(seen, await storedEvents(busiest));
  });

  it('refuses a page size out of bounds and a cursor it did not make, naming the argument', async () => {
    const tooMany = await graphql('{ instances(first: 1) { nodes { events(first: 1001) { nodes { id } } } } }');
    assert.equal(tooMany.errors?.[0]?.extensions?.code, 'VALIDATION_FAILED');
    assert.match(tooMany.errors?.[0]?.message ?? '', /first: must be between 1 and 1000/);
    const forged = await graphql('{ instances(first: 1) { nodes { events(after: "bm90IGEgY3Vyc29y") { nodes { id } } } } }');
    assert.equal(forged.errors?.[0]?.extensions?.code, 'VALIDATION_FAILED');
    assert.match(forged.errors?.[0]?.message ?? '', /after: is not a cursor this API returned/);
  });
});
