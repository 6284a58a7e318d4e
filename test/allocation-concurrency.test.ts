import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { tenantDatabaseName, tenantRoleName } from '../src/domain/names.js';
import {
  CREATE_INSTANCE,
  instanceInput,
  registerLocalPool,
  resetState,
  startTestDaemon,
  withPoolCatalog,
  type TestDaemon,
} from './support/harness.js';

/** The control connection waits at most 5 s for a lock, as in production: no caller may fail on it here. */
const withLockTimeout = (url: string) => `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent('-c lock_timeout=5s')}`;

describe('allocation under concurrency', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await startTestDaemon({ DATABASE_URL: withLockTimeout(process.env.DATABASE_URL!) });
  });
  beforeEach(() => resetState(daemon.deps));
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('allocates exactly the free slots when three times as many sign-ups arrive at once', async () => {
    const freeSlots = 6;
    const pool = await registerLocalPool(daemon, 'pool-race', freeSlots);
    const results = await Promise.all(Array.from({ length: freeSlots * 3 }, () => daemon.gql(CREATE_INSTANCE, { input: instanceInput() })));
    for (const result of results) assert.equal(result.errors, undefined, JSON.stringify(result.errors));
    const instances = results.map((result) => result.data.createInstance as { id: string; status: string; dbServerId: string | null });
    const allocated = instances.filter((instance) => instance.status === 'ALLOCATED');
    const waiting = instances.filter((instance) => instance.status === 'WAITING_FOR_DATABASE');
    assert.equal(allocated.length, freeSlots);
    assert.equal(waiting.length, freeSlots * 2);
    assert.ok(allocated.every((instance) => instance.dbServerId === pool.id));

    const poolRow = await daemon.deps.db.selectFrom('db_servers').selectAll().where('id', '=', pool.id).executeTakeFirstOrThrow();
    assert.equal(poolRow.current_instances, freeSlots);
    assert.equal(poolRow.status, 'full');

    const onPool = await withPoolCatalog(async (client) => {
      const ids = instances.map((instance) => instance.id);
      const databases = await client.query<{ datname: string }>('select datname from pg_database where datname = any($1)', [
        ids.map(tenantDatabaseName),
      ]);
      const roles = await client.query<{ rolname: string }>('select rolname from pg_roles where rolname = any($1)', [
        ids.map(tenantRoleName),
      ]);
      return { databases: databases.rows.map((row) => row.datname).sort(), roles: roles.rows.map((row) => row.rolname).sort() };
    });
    assert.deepEqual(
      onPool.databases,
      allocated.map((instance) => tenantDatabaseName(instance.id)).sort(),
      'a database for each allocated instance, and no other',
    );
    assert.deepEqual(
      onPool.roles,
      allocated.map((instance) => tenantRoleName(instance.id)).sort(),
      'a role for each allocated instance, and no other',
    );
    for (const instance of waiting) assert.equal(await daemon.deps.redis.exists(`instance:${instance.id}:db_credentials`), 0);
  });

  it('fills exactly both pools when three times their capacity signs up at once', async () => {
    const first = await registerLocalPool(daemon, 'pool-race-a', 4);
    const second = await registerLocalPool(daemon, 'pool-race-b', 5);
    const capacity = first.maxInstances + second.maxInstances;
    const results = await Promise.all(Array.from({ length: capacity * 3 }, () => daemon.gql(CREATE_INSTANCE, { input: instanceInput() })));
    for (const result of results) assert.equal(result.errors, undefined, JSON.stringify(result.errors));
    const instances = results.map((result) => result.data.createInstance as { id: string; status: string; dbServerId: string | null });
    const allocated = instances.filter((instance) => instance.status === 'ALLOCATED');
    assert.equal(allocated.length, capacity);
    assert.equal(
      instances.filter((instance) => instance.status === 'WAITING_FOR_DATABASE' && instance.dbServerId === null).length,
      capacity * 2,
    );
    assert.equal(allocated.filter((instance) => instance.dbServerId === first.id).length, first.maxInstances);
    assert.equal(allocated.filter((instance) => instance.dbServerId === second.id).length, second.maxInstances);

    const pools = await daemon.deps.db
      .selectFrom('db_servers')
      .select(['id', 'current_instances', 'status'])
      .where('id', 'in', [first.id, second.id])
      .orderBy('name')
      .execute();
    assert.deepEqual(pools, [
      { id: first.id, current_instances: first.maxInstances, status: 'full' },
      { id: second.id, current_instances: second.maxInstances, status: 'full' },
    ]);
    const ids = instances.map((instance) => instance.id);
    const onServer = await withPoolCatalog(async (client) => ({
      databases: (
        await client.query<{ datname: string }>('select datname from pg_database where datname = any($1)', [ids.map(tenantDatabaseName)])
      ).rows
        .map((row) => row.datname)
        .sort(),
      roles: (
        await client.query<{ rolname: string }>('select rolname from pg_roles where rolname = any($1)', [ids.map(tenantRoleName)])
      ).rows
        .map((row) => row.rolname)
        .sort(),
    }));
    assert.deepEqual(onServer.databases, allocated.map((instance) => tenantDatabaseName(instance.id)).sort());
    assert.deepEqual(onServer.roles, allocated.map((instance) => tenantRoleName(instance.id)).sort());
    const reservations = await daemon.deps.db
      .selectFrom('instances')
      .select('db_allocation')
      .where('id', 'in', ids)
      .where('db_allocation', '=', 'reserved')
      .execute();
    assert.deepEqual(reservations, [], 'no slot is left reserved');
  });

  it('creates one instance when the same sign-up arrives twice at once', async () => {
    await registerLocalPool(daemon, 'pool-twice', 5);
    const input = instanceInput();
    const [first, second] = await Promise.all([daemon.gql(CREATE_INSTANCE, { input }), daemon.gql(CREATE_INSTANCE, { input })]);
    assert.equal(first.errors, undefined);
    assert.equal(second.errors, undefined);
    assert.equal(first.data.createInstance.id, second.data.createInstance.id);
    const rows = await daemon.deps.db.selectFrom('instances').select('id').where('subdomain', '=', input.subdomain).execute();
    assert.equal(rows.length, 1);
  });
});
