import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { readCredentials } from '../src/domain/allocation/credentials.js';
import {
  ALLOCATE,
  CREATE_INSTANCE,
  instanceInput,
  localPool,
  registerLocalPool,
  resetState,
  startTestDaemon,
  type TestDaemon,
} from './support/harness.js';

describe('where a tenant password may be', () => {
  let daemon: TestDaemon;
  let passwords: string[] = [];

  before(async () => {
    daemon = await startTestDaemon();
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-secrets', 5);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const instance = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput() })).data.createInstance;
      await daemon.gql(ALLOCATE, { id: instance.id });
      await daemon.gql('query($id: ID!) { instance(id: $id) { id dbHost dbPort error } }', { id: instance.id });
      ids.push(instance.id);
    }
    await daemon.gql('{ instances { nodes { id status dbHost error } } pools { name host } }');
    passwords = await Promise.all(ids.map(async (id) => (await readCredentials(daemon.deps.redis, id))!.db_password));
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('is in Redis, under a TTL', () => {
    assert.equal(passwords.length, 3);
    for (const password of passwords) assert.match(password, /^[A-Za-z0-9]{32}$/);
  });

  it('is in no PostgreSQL row of the daemon', async () => {
    const tables = ['db_servers', 'instances', 'kysely_migration'];
    for (const table of tables) {
      const { rows } = await sql<{ row: string }>`select row_to_json(t)::text as row from ${sql.table(table)} t`.execute(daemon.deps.db);
      for (const { row } of rows) for (const password of passwords) assert.ok(!row.includes(password), `a password in ${table}`);
    }
  });

  it('is in no daemon log line, and neither is the pool admin password', () => {
    assert.ok(daemon.logs.length > 5, 'the daemon logged');
    for (const line of daemon.logs) {
      for (const password of passwords) assert.ok(!line.includes(password), `a tenant password in: ${line}`);
      assert.ok(!line.includes(localPool.adminPassword), `the pool admin password in: ${line}`);
    }
  });

  it('is in no GraphQL response, and neither is the pool admin password', () => {
    assert.ok(daemon.responses.length >= 10);
    for (const body of daemon.responses) {
      for (const password of passwords) assert.ok(!body.includes(password), `a tenant password in: ${body}`);
      assert.ok(!body.includes(localPool.adminPassword));
    }
  });

  it('keeps the pool admin password encrypted at rest', async () => {
    const pool = await daemon.deps.db.selectFrom('db_servers').selectAll().executeTakeFirstOrThrow();
    assert.notEqual(pool.admin_password_encrypted, localPool.adminPassword);
    assert.match(pool.admin_password_encrypted, /^v1:/);
  });
});
