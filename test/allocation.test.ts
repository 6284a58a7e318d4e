import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { trackInstances } from '../src/jobs/instance-tracking.js';
import { readCredentials } from '../src/domain/allocation/credentials.js';
import { credentialsKey } from '../src/domain/names.js';
import {
  ALLOCATE,
  CREATE_INSTANCE,
  instanceInput,
  connectAsTenant,
  localPool,
  registerLocalPool,
  resetState,
  startTestDaemon,
  withPoolCatalog,
  type TestDaemon,
  expectError,
} from './support/harness.js';

describe('database allocation', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await startTestDaemon();
  });
  beforeEach(() => resetState(daemon.deps));
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('creates an instance with its database allocated, the pool fields on the row and the credentials in Redis', async () => {
    const pool = await registerLocalPool(daemon, 'pool-a', 5);
    assert.equal(pool.status, 'ACTIVE');
    const created = await daemon.gql(CREATE_INSTANCE, { input: instanceInput() });
    assert.equal(created.errors, undefined);
    const instance = created.data.createInstance;
    assert.equal(instance.status, 'ALLOCATED');
    assert.equal(instance.dbServerId, pool.id);
    assert.equal(instance.dbHost, localPool.host);
    assert.equal(instance.dbPort, 5432);

    const row = await daemon.deps.db.selectFrom('instances').selectAll().where('id', '=', instance.id).executeTakeFirstOrThrow();
    assert.deepEqual([row.db_server_id, row.db_host, row.db_port, row.status], [pool.id, localPool.host, 5432, 'ALLOCATED']);
    const poolRow = await daemon.deps.db.selectFrom('db_servers').selectAll().where('id', '=', pool.id).executeTakeFirstOrThrow();
    assert.equal(poolRow.current_instances, 1);

    const credentials = await readCredentials(daemon.deps.redis, instance.id);
    assert.ok(credentials, 'credentials are in Redis');
    assert.equal(credentials.db_host, localPool.host);
    assert.equal(credentials.db_port, 5432);
    assert.match(credentials.db_password, /^[A-Za-z0-9]{32}$/);
    const ttl = await daemon.deps.redis.ttl(credentialsKey(instance.id));
    assert.ok(ttl > 3590 && ttl <= 3600, `TTL is about an hour (${ttl})`);

    const catalog = await withPoolCatalog(async (client) => {
      const role = await client.query('select rolcanlogin, rolconnlimit, rolsuper, rolcreatedb from pg_roles where rolname = $1', [
        credentials.db_user,
      ]);
      const database = await client.query(
        'select pg_get_userbyid(datdba) as owner, datacl::text[] as acl from pg_database where datname = $1',
        [credentials.db_name],
      );
      return { role: role.rows[0], database: database.rows[0] };
    });
    assert.deepEqual(catalog.role, {
      rolcanlogin: true,
      rolconnlimit: daemon.deps.config.tenantConnectionLimit,
      rolsuper: false,
      rolcreatedb: false,
    });
    assert.equal(catalog.database.owner, credentials.db_user);
    assert.ok(
      catalog.database.acl.every((entry: string) => !entry.startsWith('=')),
      `no PUBLIC entry in the database ACL: ${catalog.database.acl.join(', ')}`,
    );

    const tenant = await connectAsTenant(credentials);
    const { rows } = await tenant.query('select current_user, current_database()');
    await tenant.end();
    assert.deepEqual(rows[0], { current_user: credentials.db_user, current_database: credentials.db_name });
    const odooStartupProbe = await connectAsTenant(credentials, 'postgres');
    await odooStartupProbe.end();
  });

  it("keeps a tenant out of another tenant's database", async () => {
    await registerLocalPool(daemon, 'pool-a', 5);
    const first = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput() })).data.createInstance;
    const second = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput() })).data.createInstance;
    const firstCredentials = (await readCredentials(daemon.deps.redis, first.id))!;
    const secondCredentials = (await readCredentials(daemon.deps.redis, second.id))!;
    await assert.rejects(connectAsTenant(firstCredentials, secondCredentials.db_name), /permission denied for database/);
  });

  it('returns the same allocation when asked again: no second database, slot or password', async () => {
    const pool = await registerLocalPool(daemon, 'pool-a', 5);
    const instance = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput() })).data.createInstance;
    const before = await readCredentials(daemon.deps.redis, instance.id);
    const again = await Promise.all([1, 2, 3].map(() => daemon.gql(ALLOCATE, { id: instance.id })));
    for (const result of again) {
      assert.equal(result.errors, undefined);
      assert.equal(result.data.allocateDatabase.dbServerId, pool.id);
      assert.equal(result.data.allocateDatabase.dbName, before!.db_name);
      assert.equal(result.data.allocateDatabase.dbUser, before!.db_user);
    }
    assert.deepEqual(await readCredentials(daemon.deps.redis, instance.id), before);
    const poolRow = await daemon.deps.db
      .selectFrom('db_servers')
      .select('current_instances')
      .where('id', '=', pool.id)
      .executeTakeFirstOrThrow();
    assert.equal(poolRow.current_instances, 1);
  });

  it('marks a pool full at capacity, lets instances wait, and allocates them when a pool has room', async () => {
    const small = await registerLocalPool(daemon, 'pool-small', 1);
    const first = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput() })).data.createInstance;
    assert.equal(first.status, 'ALLOCATED');
    const pools = await daemon.gql('{ pools { name status currentInstances maxInstances freeSlots } }');
    assert.deepEqual(pools.data.pools, [{ name: 'pool-small', status: 'FULL', currentInstances: 1, maxInstances: 1, freeSlots: 0 }]);

    const waiting = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput() })).data.createInstance;
    assert.equal(waiting.status, 'WAITING_FOR_DATABASE');
    assert.equal(waiting.dbServerId, null);
    assert.equal(await readCredentials(daemon.deps.redis, waiting.id), null);
    const explicit = await daemon.gql(ALLOCATE, { id: waiting.id });
    expectError(explicit, 'NO_POOL_CAPACITY');

    const larger = await registerLocalPool(daemon, 'pool-large', 3);
    await trackInstances(daemon.deps);
    const after = await daemon.gql('query($id: ID!) { instance(id: $id) { status dbServerId } }', { id: waiting.id });
    assert.deepEqual(after.data.instance, { status: 'ALLOCATED', dbServerId: larger.id });
    assert.ok(await readCredentials(daemon.deps.redis, waiting.id));
    assert.notEqual(larger.id, small.id);
  });

  it('prefers the pool with the lowest priority number, then the least loaded', async () => {
    await registerLocalPool(daemon, 'pool-later', 5, 200);
    const preferred = await registerLocalPool(daemon, 'pool-first', 5, 10);
    const instance = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput() })).data.createInstance;
    assert.equal(instance.dbServerId, preferred.id);
  });

  it('lists instances page by page, filtered by status and customer', async () => {
    await registerLocalPool(daemon, 'pool-a', 2);
    const otherCustomer = '0b7e5b8e-8f0e-4c59-9d5e-3f1f4a2b6c7d';
    for (let i = 0; i < 3; i++) await daemon.gql(CREATE_INSTANCE, { input: instanceInput() });
    await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ customerId: otherCustomer }) });
    const query = `query($first: Int, $after: String, $status: InstanceStatus, $customerId: ID) {
      instances(first: $first, after: $after, status: $status, customerId: $customerId) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor } nodes { id status customerId } }
    }`;
    const page1 = (await daemon.gql(query, { first: 3 })).data.instances;
    assert.equal(page1.totalCount, 4);
    assert.equal(page1.nodes.length, 3);
    assert.deepEqual([page1.pageInfo.hasNextPage, page1.pageInfo.hasPreviousPage], [true, false]);
    assert.equal(page1.pageInfo.startCursor, page1.edges[0].cursor);
    assert.equal(page1.pageInfo.endCursor, page1.edges[2].cursor);
    const page2 = (await daemon.gql(query, { first: 3, after: page1.pageInfo.endCursor })).data.instances;
    assert.equal(page2.nodes.length, 1);
    assert.deepEqual([page2.pageInfo.hasNextPage, page2.pageInfo.hasPreviousPage], [false, true]);
    const ids = new Set([...page1.nodes, ...page2.nodes].map((node: { id: string }) => node.id));
    assert.equal(ids.size, 4);
    const waiting = (await daemon.gql(query, { status: 'WAITING_FOR_DATABASE' })).data.instances;
    assert.equal(waiting.totalCount, 2);
    const theirs = (await daemon.gql(query, { customerId: otherCustomer })).data.instances;
    assert.deepEqual(
      theirs.nodes.map((node: { customerId: string }) => node.customerId),
      [otherCustomer],
    );
  });
});
