import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { readCredentials } from '../src/domain/allocation/credentials.js';
import { tenantDatabaseName, tenantRoleName } from '../src/domain/names.js';
import {
  CREATE_INSTANCE,
  REGISTER_POOL,
  instanceInput,
  connectAsTenant,
  localPool,
  resetState,
  startTestDaemon,
  withPoolCatalog,
  type TestDaemon,
} from './support/harness.js';

const limitedAdmin = { user: `pool_admin_limited_${process.pid}`, password: 'limited-admin-password-for-tests' };

describe('allocation failures leave nothing behind', () => {
  let daemon: TestDaemon;
  before(async () => {
    // No reconciler ticks: they would try the waiting instances again while a case looks at what a failure left.
    daemon = await startTestDaemon({ PROVISION_TRACKING_CRON: '0 0 1 1 *' });
    await withPoolCatalog(async (client) => {
      await client.query(`drop role if exists ${limitedAdmin.user}`);
      await client.query(`create role ${limitedAdmin.user} login createrole createdb password '${limitedAdmin.password}'`);
    });
  });
  beforeEach(() => resetState(daemon.deps));
  after(async () => {
    await resetState(daemon.deps);
    await withPoolCatalog((client) => client.query(`drop role if exists ${limitedAdmin.user}`));
    await daemon.stop();
  });

  it('undoes the role when the pool refuses the database, counts no slot, and says why', async () => {
    const registered = await daemon.gql(REGISTER_POOL, {
      input: { ...localPool, adminUser: limitedAdmin.user, adminPassword: limitedAdmin.password, name: 'pool-refusing', maxInstances: 5 },
    });
    const pool = registered.data.registerPool;
    // The admin loses CREATEDB after registration: the role is made, then CREATE DATABASE fails.
    await withPoolCatalog((client) => client.query(`alter role ${limitedAdmin.user} nocreatedb`));

    const created = await daemon.gql(CREATE_INSTANCE, { input: instanceInput() });
    assert.equal(created.errors, undefined);
    const instance = created.data.createInstance;
    assert.equal(instance.status, 'WAITING_FOR_DATABASE');
    assert.equal(instance.dbServerId, null);
    assert.match(instance.error, /pool-refusing: permission denied to create database/);

    const poolRow = await daemon.deps.db.selectFrom('db_servers').selectAll().where('id', '=', pool.id).executeTakeFirstOrThrow();
    assert.equal(poolRow.current_instances, 0);
    assert.equal(await readCredentials(daemon.deps.redis, instance.id), null);
    const leftovers = await withPoolCatalog(async (client) => ({
      roles: (await client.query('select 1 from pg_roles where rolname = $1', [tenantRoleName(instance.id)])).rowCount,
      databases: (await client.query('select 1 from pg_database where datname = $1', [tenantDatabaseName(instance.id)])).rowCount,
    }));
    assert.deepEqual(leftovers, { roles: 0, databases: 0 });
    await withPoolCatalog((client) => client.query(`alter role ${limitedAdmin.user} createdb`));
  });

  it('falls through to the next pool when the preferred one fails', async () => {
    await daemon.gql(REGISTER_POOL, {
      input: {
        ...localPool,
        adminUser: limitedAdmin.user,
        adminPassword: limitedAdmin.password,
        name: 'pool-broken',
        maxInstances: 5,
        priority: 1,
      },
    });
    const healthy = (await daemon.gql(REGISTER_POOL, { input: { ...localPool, name: 'pool-healthy', maxInstances: 5, priority: 50 } })).data
      .registerPool;
    await withPoolCatalog((client) => client.query(`alter role ${limitedAdmin.user} nocreatedb`));
    const instance = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput() })).data.createInstance;
    await withPoolCatalog((client) => client.query(`alter role ${limitedAdmin.user} createdb`));
    assert.equal(instance.status, 'ALLOCATED');
    assert.equal(instance.dbServerId, healthy.id);
    const counts = await daemon.deps.db.selectFrom('db_servers').select(['name', 'current_instances']).orderBy('name').execute();
    assert.deepEqual(counts, [
      { name: 'pool-broken', current_instances: 0 },
      { name: 'pool-healthy', current_instances: 1 },
    ]);
  });

  it('adopts what an interrupted allocation left on the pool, with a password that works', async () => {
    const pool = (await daemon.gql(REGISTER_POOL, { input: { ...localPool, name: 'pool-a', maxInstances: 5 } })).data.registerPool;
    const instanceRow = await daemon.deps.db
      .insertInto('instances')
      .values({
        customer_id: instanceInput().customerId,
        name: 'Interrupted',
        subdomain: `interrupted-${process.pid}`,
        odoo_version: '17.0',
        admin_email: 'a@b.example',
        cpu_limit: 1,
        memory_limit_mb: 1024,
        status: 'CREATING',
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    // What a daemon killed between CREATE ROLE/DATABASE and its commit leaves: role and database, no row update.
    await withPoolCatalog(async (client) => {
      await client.query(`create role ${tenantRoleName(instanceRow.id)} login password 'a-password-nobody-knows'`);
      await client.query(`grant ${tenantRoleName(instanceRow.id)} to current_user`);
      await client.query(`create database ${tenantDatabaseName(instanceRow.id)} owner ${tenantRoleName(instanceRow.id)}`);
    });
    const allocation = await daemon.gql(`mutation($id: ID!) { allocateDatabase(instanceId: $id) { dbServerId dbName } }`, {
      id: instanceRow.id,
    });
    assert.equal(allocation.errors, undefined);
    assert.equal(allocation.data.allocateDatabase.dbServerId, pool.id);
    const credentials = (await readCredentials(daemon.deps.redis, instanceRow.id))!;
    await (await connectAsTenant(credentials)).end();
  });
});
