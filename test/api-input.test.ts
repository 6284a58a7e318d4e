import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  ALLOCATE,
  CREATE_INSTANCE,
  REGISTER_POOL,
  instanceInput,
  localPool,
  registerLocalPool,
  resetState,
  startTestDaemon,
  type TestDaemon,
  expectError,
} from './support/harness.js';

describe('bad input and missing credentials', () => {
  let daemon: TestDaemon;
  const counts = async () => ({
    instances: (await daemon.deps.db.selectFrom('instances').select('id').execute()).length,
    pools: (await daemon.deps.db.selectFrom('db_servers').select('id').execute()).length,
    redisKeys: (await daemon.deps.redis.keys('instance:*')).length,
  });

  before(async () => {
    daemon = await startTestDaemon();
  });
  beforeEach(async () => {
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-a', 5);
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  const invalid: [string, Record<string, unknown>, RegExp][] = [
    ['an upper-case subdomain', { subdomain: 'Acme' }, /input\.subdomain: must be 3-63 lower-case letters/],
    ['a subdomain with a dot', { subdomain: 'acme.evil' }, /input\.subdomain: must be 3-63 lower-case letters/],
    ['a subdomain ending in a dash', { subdomain: 'acme-' }, /input\.subdomain: must be 3-63/],
    ['a too short subdomain', { subdomain: 'ab' }, /input\.subdomain: must be 3-63/],
    ['a reserved subdomain', { subdomain: 'admin' }, /input\.subdomain: is reserved/],
    ['an SQL-ish subdomain', { subdomain: "x'; drop table instances; --" }, /input\.subdomain/],
    ['an empty name', { name: '   ' }, /^input\.name: must not be empty$/],
    ['a name with a control character', { name: 'Acme\u0007' }, /^input\.name: must not contain control characters$/],
    ['a name over 100 characters', { name: 'n'.repeat(101) }, /input\.name: must be at most 100 characters/],
    ['a customer id that is no UUID', { customerId: 'customer-1' }, /input\.customerId: must be a UUID/],
    ['an unknown Odoo version', { odooVersion: '9.0' }, /input\.odooVersion: must be one of: 17\.0/],
    ['a bad e-mail', { adminEmail: 'not-an-email' }, /input\.adminEmail: must be an e-mail address/],
    ['a bad memory size', { memoryLimit: '12 gigs' }, /input\.memoryLimit: must be a size such as 512M or 2G/],
    ['a too small CPU limit', { cpuLimit: 0.1 }, /input\.cpuLimit: must be between 0\.25 and 64 cores/],
    ['too little memory for Odoo', { memoryLimit: '384M' }, /input\.memoryLimit: must be between 512M and 256G/],
  ];
  for (const [what, override, message] of invalid) {
    it(`refuses ${what} with VALIDATION_FAILED and creates nothing`, async () => {
      const result = await daemon.gql(CREATE_INSTANCE, { input: instanceInput(override) });
      expectError(result, 'VALIDATION_FAILED');
      assert.match(result.errors[0]!.message, message);
      assert.deepEqual(await counts(), { instances: 0, pools: 1, redisKeys: 0 });
    });
  }

  it('refuses a subdomain that a live instance holds, with CONFLICT', async () => {
    const input = instanceInput();
    await daemon.gql(CREATE_INSTANCE, { input });
    const result = await daemon.gql(CREATE_INSTANCE, { input: { ...input, name: 'Somebody else' } });
    expectError(result, 'CONFLICT');
    assert.match(result.errors[0]!.message, /subdomain .* is already taken/);
    assert.equal((await counts()).instances, 1);
  });

  it('refuses a pool whose admin cannot log in, naming the address, and stores nothing', async () => {
    const result = await daemon.gql(REGISTER_POOL, {
      input: { ...localPool, adminPassword: 'wrong', name: 'pool-wrong', maxInstances: 5 },
    });
    expectError(result, 'VALIDATION_FAILED');
    assert.match(result.errors[0]!.message, /cannot use pool_admin@.*:5432 as pool admin \(password authentication failed/);
    assert.doesNotMatch(result.errors[0]!.message, /wrong/);
    assert.equal((await counts()).pools, 1);
  });

  it('refuses a pool with bad fields, naming each', async () => {
    const result = await daemon.gql(REGISTER_POOL, { input: { ...localPool, name: 'Bad Name', port: 70000, maxInstances: 0 } });
    expectError(result, 'VALIDATION_FAILED');
    for (const field of ['input.name', 'input.port', 'input.maxInstances'])
      assert.match(result.errors[0]!.message, new RegExp(field.replace('.', '\\.')));
  });

  it('answers NOT_FOUND for unknown and malformed ids', async () => {
    for (const id of ['8d0c3f62-5b1a-4f7e-8a47-1f2e3d4c5b6a', 'not-a-uuid', "1' or '1'='1"]) {
      const allocation = await daemon.gql(ALLOCATE, { id });
      assert.equal(allocation.errors?.[0]?.extensions?.code, 'NOT_FOUND', id);
      const instance = await daemon.gql('query($id: ID!) { instance(id: $id) { id } }', { id });
      assert.equal(instance.errors?.[0]?.extensions?.code, 'NOT_FOUND', id);
      const pool = await daemon.gql('query($id: ID!) { pool(id: $id) { id } }', { id });
      assert.equal(pool.errors?.[0]?.extensions?.code, 'NOT_FOUND', id);
    }
  });

  it('answers UNAUTHENTICATED without a token or with a wrong one, and creates nothing', async () => {
    for (const token of [null, 'not-the-admin-token', `${daemon.deps.config.adminToken}x`]) {
      const created = await daemon.gql(CREATE_INSTANCE, { input: instanceInput() }, { token });
      expectError(created, 'UNAUTHENTICATED');
      assert.equal(created.status, 401, 'refused before the document is even read');
      assert.equal(created.data ?? null, null);
      const pools = await daemon.gql('{ pools { id name } }', undefined, { token });
      expectError(pools, 'UNAUTHENTICATED');
      const registered = await daemon.gql(REGISTER_POOL, { input: { ...localPool, name: 'pool-x', maxInstances: 1 } }, { token });
      expectError(registered, 'UNAUTHENTICATED');
    }
    assert.deepEqual(await counts(), { instances: 0, pools: 1, redisKeys: 0 });
  });
});
