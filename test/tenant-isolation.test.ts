import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chownSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { suspendInstance } from '../src/domain/instances/lifecycle.js';
import { changeInstancePlan } from '../src/domain/instances/plan-change.js';
import { tenantDatabaseName, tenantMaintenanceRoleName, tenantRoleName } from '../src/domain/names.js';
import type { DbCredentials } from '../src/domain/allocation/credentials.js';
import { readCredentials } from '../src/domain/allocation/credentials.js';
import { repairTenantLogin, storedLogin } from '../src/domain/instances/tenant-login.js';
import { backupDir, instanceBackupsDir } from '../src/swarm/backup-job.js';
import { odooProductionSettings, odooSettingsArgs } from '../src/swarm/odoo-config.js';
import { instanceDataDir } from '../src/storage/layout.js';
import { liveTasks } from '../src/swarm/swarm.js';
import {
  CREATE_INSTANCE,
  customerToken,
  eventually,
  expectError,
  instanceInput,
  localPool,
  registerLocalPool,
  resetState,
  startTestDaemon,
  withPoolCatalog,
  type TestDaemon,
} from './support/harness.js';
import { asTenant, asTenantUid, inTenantContainer } from './support/hostile-tenant.js';
import { PROVISION, instanceWithStatus, settledInstance, terminatedInstance } from './support/odoo.js';

const BACKUP = 'id status error startedAt kind';
const BACKUP_INSTANCE = `mutation($id: ID!) { backupInstance(instanceId: $id) { ${BACKUP} } }`;
const BACKUP_VIEW = `query($id: ID!) { backup(id: $id) { ${BACKUP} } }`;
const RESTORE = 'mutation($id: ID!, $backupId: ID!) { restoreInstance(instanceId: $id, backupId: $backupId) { id status } }';
const RESET = 'mutation($id: ID!) { resetInstanceAdminPassword(instanceId: $id) { login password } }';
const TERMINATE = 'mutation($id: ID!, $force: Boolean) { terminateInstance(instanceId: $id, force: $force) { id status error } }';
const VIEW = 'query($id: ID!) { instance(id: $id) { id status error serviceName events(first: 1000) { nodes { cause actor message } } } }';
const act = (verb: string) => `mutation($id: ID!) { ${verb}(instanceId: $id) { id status } }`;

/** Every value a query on the pool's catalog needs, as the platform (not the tenant) reads it. */
const catalog = <T>(sql: string, values: unknown[] = []) =>
  withPoolCatalog(async (client) => (await client.query(sql, values)).rows as T[]);

describe('a hostile tenant reaches nothing beyond its own database and files', () => {
  let daemon: TestDaemon;
  let cephfs: string;
  /** The attacker: a running Odoo whose customer's every tool (SQL as its role, code as uid 101) is used. */
  const customer = randomUUID();
  let attacker: { id: string; credentials: DbCredentials };
  /** Another tenant on the same pool: what the attacker would like to reach. */
  let neighbour: { id: string; credentials: DbCredentials };
  let ownerToken: string;
  let source: string;
  const escapee = `x_escaped_${randomUUID().slice(0, 8)}`;

  const gqlOk = async (query: string, variables: Record<string, unknown>, token?: string) => {
    const result = await daemon.gql(query, variables, token ? { token } : undefined);
    // An unexpected error's cause is in the daemon's log, not the response: both go into the failure.
    const logged = () => daemon.logs.filter((line) => line.includes('"level":50')).join('\n');
    assert.equal(result.errors, undefined, result.errors && `${JSON.stringify(result.errors)}\n${logged()}`);
    return result.data;
  };
  const backupEnded = (id: string) =>
    eventually(
      async () => (await daemon.gql(BACKUP_VIEW, { id })).data.backup,
      (backup) => backup.status === 'COMPLETED' || backup.status === 'FAILED',
      120_000,
      250,
    );
  const restoreOf = (backupId: string) =>
    daemon.deps.db
      .selectFrom('restores')
      .selectAll()
      .where('backup_id', '=', backupId)
      .orderBy('created_at', 'desc')
      .executeTakeFirstOrThrow();
  const dataDir = () => instanceDataDir(cephfs, attacker.id);
  const store = () => `/var/lib/odoo/filestore/${tenantDatabaseName(attacker.id)}`;

  async function createFor(customerId: string) {
    const created = await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ customerId, memoryLimit: '2G', cpuLimit: 0.5 }) });
    const instance = created.data?.createInstance;
    if (instance?.status !== 'ALLOCATED') throw new Error(`not allocated: ${JSON.stringify(created)}`);
    return { id: instance.id as string, credentials: (await readCredentials(daemon.deps.redis, instance.id))! };
  }

  before(async () => {
    daemon = await startTestDaemon({ MAX_INSTANCES_PER_CUSTOMER: '2' });
    cephfs = daemon.deps.config.cephfsRoot;
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-tenants', 10);
    ownerToken = await customerToken(customer);
    attacker = await createFor(customer);
    neighbour = await createFor(randomUUID());
    await gqlOk(PROVISION, { id: attacker.id });
    assert.equal((await settledInstance(daemon, attacker.id)).status, 'RUNNING');
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('its trigger, fired by an admin password reset, runs with its own rights: no escape, no row held meanwhile', async () => {
    const [own, other] = [tenantRoleName(attacker.id), tenantRoleName(neighbour.id)];
    await asTenant(
      attacker.credentials,
      `create table x_seen (session_role text, escaped boolean);
       create function x_escape() returns trigger language plpgsql as $$
       declare escaped boolean := false;
       begin
         begin
           set role none;
           execute 'grant ${other} to ${own}';
           escaped := true;
         exception when others then null;
         end;
         insert into public.x_seen values (session_user, escaped);
         perform pg_sleep(2);
         return new;
       end $$;
       create trigger x_on_reset before update on res_users for each row execute function x_escape();`,
    );
    const reset = daemon.gql(RESET, { id: attacker.id }, { token: ownerToken });
    await eventually(
      () => catalog("select 1 from pg_stat_activity where datname = $1 and wait_event = 'PgSleep'", [tenantDatabaseName(attacker.id)]),
      (rows) => rows.length === 1,
      30_000,
      50,
    );
    // While the tenant's trigger holds the reset up, the instance's row is free for anyone else.
    await daemon.deps.db.transaction().execute(async (trx) => {
      await trx.selectFrom('instances').select('id').where('id', '=', attacker.id).forUpdate().noWait().execute();
    });
    const done = await reset;
    assert.equal(done.errors, undefined, JSON.stringify(done.errors));
    assert.ok(done.data.resetInstanceAdminPassword.password.length >= 20);

    const seen = await asTenant<{ session_role: string; escaped: boolean }>(attacker.credentials, 'select * from x_seen');
    assert.deepEqual(
      seen,
      [{ session_role: tenantMaintenanceRoleName(attacker.id), escaped: false }],
      'SET ROLE NONE leads to a login with its rights',
    );
    const [joined] = await catalog<{ member: boolean }>("select pg_has_role($1, $2, 'member') as member", [own, other]);
    assert.equal(joined!.member, false, 'the tenant did not join its neighbour’s role');

    // Resets are bounded per customer: a burst beyond the allowance is refused, not queued.
    await asTenant(attacker.credentials, 'drop trigger x_on_reset on res_users');
    const burst = await Promise.all(Array.from({ length: 5 }, () => daemon.gql(RESET, { id: attacker.id }, { token: ownerToken })));
    const refused = burst.filter((result) => result.errors?.[0]?.extensions?.code === 'CONFLICT');
    assert.equal(refused.length, 1, JSON.stringify(burst.map((result) => result.errors?.[0]?.message ?? 'ok')));
    assert.match(refused[0]!.errors![0]!.message, /At most 5 admin password resets/);
  });

  it('a plan change puts the new settings on its command line; its one config secret and its password stay as they were', async () => {
    await gqlOk('mutation { upsertPlan(input: { name: "tenant-sec-large", cpuLimit: 1, memoryLimit: "3G" }) { name } }', {});
    const plan = await daemon.deps.db.selectFrom('plans').selectAll().where('name', '=', 'tenant-sec-large').executeTakeFirstOrThrow();
    await changeInstancePlan(daemon.deps, attacker.id, plan, { cause: 'SUBSCRIPTION_CHANGE', actor: 'killbill' });
    const resized = await instanceWithStatus<{ status: string; serviceName: string }>(daemon, attacker.id, 'RUNNING');
    assert.equal(resized.status, 'RUNNING');
    const args = (await daemon.deps.docker.getService(resized.serviceName).inspect()).Spec.TaskTemplate.ContainerSpec.Args as string[];
    assert.deepEqual(args.slice(-8), odooSettingsArgs(odooProductionSettings({ cpuLimit: 1, memoryLimitMb: 3072 })));
    const config = await inTenantContainer(daemon, attacker.id, 'cat /run/secrets/odoo.conf');
    assert.equal(/^db_password = (.*)$/m.exec(config)?.[1], attacker.credentials.db_password, 'the password it had');
    await asTenant(attacker.credentials, 'select 1');
    const secrets = await daemon.deps.docker.listSecrets({ filters: { name: [`odoo-config-${attacker.id.replace(/-/g, '')}`] } });
    assert.equal(secrets.length, 1);
  });

  it('a link from its filestore to /run/secrets puts no password in its backup: the backup refuses it', async () => {
    await inTenantContainer(daemon, attacker.id, `mv ${store()} ${store()}.real && ln -s /run/secrets ${store()}`);
    try {
      const backup = await backupEnded((await gqlOk(BACKUP_INSTANCE, { id: attacker.id })).backupInstance.id);
      assert.equal(backup.status, 'FAILED');
      assert.match(backup.error, /symbolic link: refused/);
    } finally {
      await inTenantContainer(daemon, attacker.id, `rm ${store()} && mv ${store()}.real ${store()}`);
    }
    // The failed backup's partial directory is removed once its status is recorded: the scan waits for that.
    const backups = instanceBackupsDir(cephfs, attacker.id);
    await eventually(
      () => readdir(backups),
      (names) => !names.some((name) => name.startsWith('.partial-')),
      30_000,
    );
    const files = (await readdir(backups, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile());
    for (const file of files) {
      const content = await readFile(join(file.parentPath, file.name), 'utf8');
      assert.ok(!content.includes(localPool.adminPassword), `the pool admin's password in ${file.name}`);
    }
  });

  it('takes a backup whose CHECK function will run in a restore, and a download of it stops when the archive does not match', async () => {
    await asTenant(
      attacker.credentials,
      // What it records goes into a table named after the session's login, made on the spot: a restore loads (and
      // truncates first) only the tables the backup has.
      `create function x_check(v integer) returns boolean language plpgsql as $$
       declare escaped boolean := false;
       begin
         begin
           set role none;
           execute 'create role ${escapee} nologin';
           escaped := true;
         exception when others then null;
         end;
         execute format('create table if not exists public.%I (escaped boolean)', 'x_checked_by_' || session_user);
         execute format('insert into public.%I values (%L)', 'x_checked_by_' || session_user, escaped);
         return true;
       end $$;
       create table x_guarded (v integer check (public.x_check(v)));
       insert into x_guarded values (1);
       drop table x_checked_by_${tenantRoleName(attacker.id)};`,
    );
    await inTenantContainer(daemon, attacker.id, `mkdir -p ${store()}/aa && printf attachment-kept-whole > ${store()}/aa/aa11`);
    const backup = await backupEnded((await gqlOk(BACKUP_INSTANCE, { id: attacker.id })).backupInstance.id);
    assert.equal(backup.status, 'COMPLETED', backup.error);
    source = backup.id;

    const archive = join(backupDir(cephfs, attacker.id, source), 'filestore.tar');
    const bytes = readFileSync(archive);
    const at = bytes.indexOf('attachment-kept-whole');
    const flip = () => bytes.writeUInt8(bytes.readUInt8(at) ^ 0x20, at);
    flip();
    writeFileSync(archive, bytes);
    try {
      const response = await fetch(`${daemon.url}/backups/${source}/download`, {
        headers: { authorization: `Bearer ${daemon.deps.config.adminToken}`, 'x-graphql-yoga-csrf': '1' },
      });
      assert.equal(response.status, 200);
      const body = await response.arrayBuffer().then(
        (received) => Buffer.from(received),
        () => null,
      );
      const zip = join(cephfs, `${source}.zip`);
      if (body) writeFileSync(zip, body);
      const complete =
        body !== null && spawnSync('python3', ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).testzip()', zip]).status === 0;
      assert.equal(complete, false, 'the client gets no archive it could take for complete');
    } finally {
      flip();
      writeFileSync(archive, bytes);
    }
  });

  it('a link from its data directory to a pool’s directory does not make a restore touch it', async () => {
    await gqlOk(act('stopInstance'), { id: attacker.id });
    await instanceWithStatus(daemon, attacker.id, 'STOPPED');
    const victim = join(cephfs, 'postgres_pools', 'victim-pgdata');
    mkdirSync(victim, { recursive: true, mode: 0o700 });
    writeFileSync(join(victim, 'PG_VERSION'), '16\n');
    chownSync(victim, 999, 999);
    asTenantUid(['mv', join(dataDir(), 'filestore'), join(dataDir(), 'filestore.real')]);
    asTenantUid(['ln', '-s', '../../postgres_pools/victim-pgdata', join(dataDir(), 'filestore')]);
    try {
      await gqlOk(RESTORE, { id: attacker.id, backupId: source });
      const restore = await eventually(
        () => restoreOf(source),
        (row) => row.status === 'COMPLETED' || row.status === 'FAILED',
        120_000,
        250,
      );
      assert.equal(restore.status, 'FAILED');
      assert.match(restore.error ?? '', /symbolic link/);
      const after = statSync(victim);
      assert.deepEqual([after.uid, after.mode & 0o777], [999, 0o700], 'the pool’s directory keeps its owner and mode');
      assert.deepEqual(readdirSync(victim), ['PG_VERSION'], 'nothing was made inside it');
      assert.equal((await instanceWithStatus(daemon, attacker.id, 'STOPPED')).status, 'STOPPED');
    } finally {
      asTenantUid(['rm', join(dataDir(), 'filestore')]);
      asTenantUid(['mv', join(dataDir(), 'filestore.real'), join(dataDir(), 'filestore')]);
    }
  });

  it('a restore runs its CHECK function with its rights only, rolls forward past a failure after the swap, then honours a suspension', async () => {
    const filestore = join(dataDir(), 'filestore', tenantDatabaseName(attacker.id));
    const mountSource = `tenant-sec-${randomUUID().slice(0, 8)}`;
    asTenantUid(['mkdir', join(filestore, 'busy')]);
    // The storage refuses, for a while, to remove what the restore replaced (a mount point inside it).
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', mountSource, join(filestore, 'busy')]);
    const mountedAt = () =>
      readFileSync('/proc/mounts', 'utf8')
        .split('\n')
        .find((line) => line.startsWith(`${mountSource} `))
        ?.split(' ')[1];
    try {
      await gqlOk(RESTORE, { id: attacker.id, backupId: source });
      // Billing suspends the tenant while it is being restored: the suspension must survive the restore.
      await suspendInstance(daemon.deps, attacker.id, { cause: 'OVERDUE_CHANGE', actor: 'killbill' });
      await eventually(
        async () => daemon.logs.filter((line) => line.includes('"restore.step_failed"') && line.includes('"SWAPPING"')).length,
        (failures) => failures >= 2,
        120_000,
        100,
      );
      assert.equal((await restoreOf(source)).status, 'SWAPPING', 'rolled forward, not failed');
    } finally {
      const target = mountedAt();
      if (target) execFileSync('umount', [target]);
    }
    const restore = await eventually(
      () => restoreOf(source),
      (row) => row.status === 'COMPLETED' || row.status === 'FAILED',
      60_000,
      250,
    );
    assert.equal(restore.status, 'COMPLETED', restore.error ?? '');
    assert.equal((await instanceWithStatus(daemon, attacker.id, 'SUSPENDED')).status, 'SUSPENDED');
    assert.deepEqual(
      readdirSync(join(dataDir(), 'filestore')).filter((name) => name.includes('.old-') || name.includes('.new-')),
      [],
      'nothing left aside',
    );
    assert.deepEqual(
      (
        await catalog<{ datname: string }>('select datname from pg_database where datname like $1', [`${tenantDatabaseName(attacker.id)}%`])
      ).map((row) => row.datname),
      [tenantDatabaseName(attacker.id)],
    );
    const checkedBy = await asTenant<{ table_name: string }>(
      attacker.credentials,
      "select table_name from information_schema.tables where table_name like 'x\\_checked\\_by\\_%'",
    );
    assert.deepEqual(
      checkedBy.map((row) => row.table_name),
      [`x_checked_by_${tenantMaintenanceRoleName(attacker.id)}`],
      'the CHECK function ran during the restore, in a session of the maintenance login only',
    );
    const escapes = await asTenant<{ escaped: boolean }>(attacker.credentials, `select escaped from ${checkedBy[0]!.table_name}`);
    assert.ok(escapes.length > 0 && escapes.every((row) => !row.escaped), 'SET ROLE NONE gave it no more rights');
    assert.deepEqual(await catalog('select 1 from pg_roles where rolname = $1', [escapee]), [], 'no role was made for the tenant');
  });

  it('terminated, it stops serving at once and counts until gone; a dump it makes fail holds the database, an admin’s force ends it', async () => {
    await gqlOk(act('resumeInstance'), { id: attacker.id });
    await instanceWithStatus(daemon, attacker.id, 'RUNNING');
    // Its own dump fails: a table its role may not read. And a default privilege in `postgres`, to hold its role.
    await asTenant(attacker.credentials, `create table x_locked (id integer); revoke all on x_locked from ${tenantRoleName(attacker.id)}`);
    await asTenant(attacker.credentials, 'alter default privileges grant select on tables to public', 'postgres');
    const second = await createFor(customer);
    const { serviceName } = (await gqlOk(VIEW, { id: attacker.id })).instance;
    // When an Odoo task was last seen running: Swarm may remove a scaled-down service's tasks soon after they stop.
    let lastSeenRunning = Date.now();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        if ((await liveTasks(daemon.deps.docker, serviceName)).length > 0) lastSeenRunning = Date.now();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();

    assert.equal((await gqlOk(TERMINATE, { id: attacker.id }, ownerToken)).terminateInstance.status, 'TERMINATING');
    const terminating = await eventually(
      async () => (await gqlOk(VIEW, { id: attacker.id })).instance,
      (instance) => instance.error !== null,
      120_000,
    ).finally(() => (sampling = false));
    await sampler;
    assert.equal(terminating.status, 'TERMINATING');
    assert.match(terminating.error, /final backup \(FAILED: .*permission denied.*force: true/s);
    assert.deepEqual(await liveTasks(daemon.deps.docker, serviceName), [], 'no Odoo task runs');
    const final = await daemon.deps.db
      .selectFrom('backups')
      .selectAll()
      .where('instance_id', '=', attacker.id)
      .where('kind', '=', 'FINAL')
      .orderBy('created_at', 'desc')
      .executeTakeFirstOrThrow();
    assert.ok(final.started_at!.getTime() >= lastSeenRunning, 'the final backup started after Odoo had stopped');

    const third = await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ customerId: customer }) }, { token: ownerToken });
    expectError(third, 'CONFLICT', 'input.customerId');
    expectError(await daemon.gql(TERMINATE, { id: attacker.id, force: true }, { token: ownerToken }), 'FORBIDDEN');

    const forced = (await gqlOk(TERMINATE, { id: attacker.id, force: true })).terminateInstance;
    assert.equal(forced.status, 'TERMINATED');
    const events = (await daemon.gql(VIEW, { id: attacker.id })).data.instance.events.nodes as { actor: string; message: string }[];
    assert.ok(events.some((event) => event.actor === 'admin' && event.message === 'terminated without a final backup (force)'));
    assert.deepEqual(
      await catalog('select rolname from pg_roles where rolname = any($1)', [
        [tenantRoleName(attacker.id), tenantMaintenanceRoleName(attacker.id)],
      ]),
      [],
    );
    assert.ok(second.id, 'a second instance fitted while the first was live');
  });

  it('gets one maintenance login however many callers make it at once (a backup started twice, a reset beside a dump)', async () => {
    const { login } = await storedLogin(daemon.deps, neighbour.id);
    const row = await daemon.deps.db.selectFrom('instances').selectAll().where('id', '=', neighbour.id).executeTakeFirstOrThrow();
    await Promise.all(Array.from({ length: 6 }, () => repairTenantLogin(daemon.deps, row, login)));
    const members = await catalog<{ rolname: string }>(
      'select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid join pg_roles u on u.oid = m.member where u.rolname = $1',
      [login.user],
    );
    assert.deepEqual(
      members.map((row) => row.rolname),
      [tenantRoleName(neighbour.id)],
      'a member of the tenant’s role and of nothing else',
    );
  });

  it('a default privilege it set in `postgres` does not keep its role from being dropped', async () => {
    await asTenant(neighbour.credentials, 'alter default privileges grant select on tables to public', 'postgres');
    const { terminated: ended } = await terminatedInstance(daemon, neighbour.id);
    assert.equal(ended.status, 'TERMINATED', ended.error ?? '');
    assert.deepEqual(await catalog('select 1 from pg_roles where rolname = $1', [tenantRoleName(neighbour.id)]), []);
  });

  it('a slot only reserved (its allocation cut short) is released at once, with no final backup to wait for', async () => {
    const cut = await createFor(randomUUID());
    // As a daemon killed between reserving the slot and making the database leaves it.
    await withPoolCatalog(async (client) => {
      await client.query(`drop database ${tenantDatabaseName(cut.id)}`);
      await client.query(`drop role ${tenantRoleName(cut.id)}`);
    });
    await daemon.deps.db
      .updateTable('instances')
      .set({ status: 'CREATING', db_allocation: 'reserved', db_reserved_until: new Date(Date.now() - 1000), db_host: null })
      .where('id', '=', cut.id)
      .execute();
    const pool = () => daemon.deps.db.selectFrom('db_servers').select('current_instances').executeTakeFirstOrThrow();
    const before = (await pool()).current_instances;
    const ended = (await gqlOk(TERMINATE, { id: cut.id })).terminateInstance;
    assert.equal(ended.status, 'TERMINATED', ended.error);
    assert.equal((await pool()).current_instances, before - 1, 'the slot is free again');
    assert.deepEqual(await daemon.deps.db.selectFrom('backups').select('id').where('instance_id', '=', cut.id).execute(), []);
  });
});
