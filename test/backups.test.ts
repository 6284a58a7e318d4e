import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tenantDatabaseName, tenantRoleName } from '../src/domain/names.js';
import { backupDir, exportsDir } from '../src/swarm/backup-job.js';
import {
  CREATE_INSTANCE,
  customerToken,
  dataField,
  eventually,
  instanceInput,
  registerLocalPool,
  resetState,
  startTestDaemon,
  withPoolCatalog,
  type TestDaemon,
  scrapeMetrics,
} from './support/harness.js';
import { INSTANCE, PROVISION, allocatedInstance, settledInstance, terminatedInstance } from './support/odoo.js';
import { partnerNames, readFilestore, withTenant, writeAttachment, writePartners } from './support/tenant-data.js';

const BACKUP_FIELDS = 'id instanceId kind status sizeBytes startedAt finishedAt error';
const BACKUP_INSTANCE = `mutation($id: ID!) { backupInstance(instanceId: $id) { ${BACKUP_FIELDS} } }`;
const BACKUP = `query($id: ID!) { backup(id: $id) { ${BACKUP_FIELDS} } }`;
const BACKUPS = `query($id: ID!) { instance(id: $id) { status backups { ${BACKUP_FIELDS} } } }`;
const RESTORE = `mutation($id: ID!, $backupId: ID!) { restoreInstance(instanceId: $id, backupId: $backupId) { id status } }`;

const sha256 = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

async function completedBackup(daemon: TestDaemon, id: string) {
  return eventually(
    async () => dataField(await daemon.gql(BACKUP, { id }), 'backup'),
    (backup) => backup.status === 'COMPLETED' || backup.status === 'FAILED',
    120_000,
    250,
  );
}

async function statusWhen(daemon: TestDaemon, id: string, wanted: string, timeoutMs = 180_000) {
  return eventually(
    async () => dataField(await daemon.gql(INSTANCE, { id }), 'instance'),
    (instance) => instance.status === wanted,
    timeoutMs,
    250,
  );
}

async function runningInstance(daemon: TestDaemon, madeTheOldWay = false): Promise<string> {
  const { id } = await allocatedInstance(daemon);
  // A tenant allocated before databases were made as Odoo makes them: the cluster's collation, no pg_trgm.
  if (madeTheOldWay)
    await withPoolCatalog(async (client) => {
      const [database, role] = [client.escapeIdentifier(tenantDatabaseName(id)), client.escapeIdentifier(tenantRoleName(id))];
      await client.query(`drop database ${database}`);
      await client.query(`create database ${database} owner ${role} template template0 encoding 'UTF8' lc_collate 'C.UTF-8'`);
      await client.query(`revoke all on database ${database} from public; grant connect, temporary on database ${database} to ${role}`);
    });
  await daemon.gql(PROVISION, { id });
  assert.equal((await settledInstance(daemon, id)).status, 'RUNNING');
  return id;
}

/** What says a database was made as Odoo makes one: its collation, and pg_trgm's owner if it has it. */
const odooShape = (instanceId: string) =>
  withTenant(instanceId, async (client) => ({
    collation: (await client.query('select datcollate from pg_database where datname = current_database()')).rows[0].datcollate,
    pgTrgm:
      (await client.query("select pg_get_userbyid(extowner) as owner from pg_extension where extname = 'pg_trgm'")).rows[0]?.owner ?? null,
  }));

/** The identity Odoo gives a database, which a copy must not share. */
const identity = (instanceId: string) =>
  withTenant(instanceId, async (client) =>
    Object.fromEntries(
      (
        await client.query<{ key: string; value: string }>(
          "select key, value from ir_config_parameter where key in ('database.uuid', 'database.secret', 'web.base.url')",
        )
      ).rows.map((row) => [row.key, row.value]),
    ),
  );

/** Databases on the pool whose names start with the tenant's: its own, and any a restore left behind. */
const tenantDatabases = (instanceId: string) =>
  withPoolCatalog(
    async (client) =>
      (
        await client.query<{ datname: string; owner: string }>(
          'select datname, pg_get_userbyid(datdba) as owner from pg_database where datname like $1 order by datname',
          [`${tenantDatabaseName(instanceId)}%`],
        )
      ).rows,
  );

describe('backups and restore on the swarm', () => {
  let daemon: TestDaemon;
  let cephfs: string;
  before(async () => {
    daemon = await startTestDaemon({ BACKUP_TRACKING_CRON: '* * * * * *' });
    cephfs = daemon.deps.config.cephfsRoot;
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 10);
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  let source: string;
  let firstBackup: string;

  it('backs up rows and filestore files, and a restore brings them back as they were, in a database made as Odoo makes one', async () => {
    // An existing tenant's way to a database as Odoo makes it (C collation, pg_trgm): a backup, then a restore of it.
    source = await runningInstance(daemon, true);
    assert.deepEqual(await odooShape(source), { collation: 'C.UTF-8', pgTrgm: null });
    await writePartners(source, ['Alice', 'Bob']);
    await writeAttachment(cephfs, source, 'ab12cd', 'first attachment');

    const requested = await daemon.gql(BACKUP_INSTANCE, { id: source });
    assert.equal(requested.errors, undefined, JSON.stringify(requested.errors));
    assert.equal(requested.data.backupInstance.kind, 'MANUAL');
    const backup = await completedBackup(daemon, requested.data.backupInstance.id);
    assert.equal(backup.status, 'COMPLETED', backup.error);
    firstBackup = backup.id;

    const dir = backupDir(cephfs, source, backup.id);
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    assert.equal(manifest.databaseName, tenantDatabaseName(source));
    assert.equal(manifest.odooVersion, '17.0');
    assert.match(manifest.postgresVersion, /^\d+\.\d+/);
    assert.deepEqual(manifest.version_info, [17, 0, 0, 'final', 0, '']);
    assert.deepEqual(manifest.modules, { base: '17.0.1.0' }, 'the installed modules and their versions');
    assert.deepEqual(
      manifest.files.map((file: { name: string }) => file.name),
      ['dump.custom', 'filestore.tar'],
    );
    for (const file of manifest.files) {
      assert.equal(file.size, (await stat(join(dir, file.name))).size);
      assert.equal(file.sha256, await sha256(join(dir, file.name)));
    }
    assert.equal(backup.sizeBytes, manifest.files[0].size + manifest.files[1].size);
    assert.equal((await daemon.gql(INSTANCE, { id: source })).data.instance.status, 'RUNNING', 'online: the tenant kept running');

    await writePartners(source, ['Mallory']);
    await withTenant(source, (client) => client.query(`update x_backup_probe set name = 'Eve' where name = 'Alice'`));
    await writeAttachment(cephfs, source, 'ab12cd', 'overwritten');
    await writeAttachment(cephfs, source, 'ef34ab', 'added later');

    const restoring = await daemon.gql(RESTORE, { id: source, backupId: backup.id });
    assert.equal(restoring.errors, undefined, JSON.stringify(restoring.errors));
    assert.equal(restoring.data.restoreInstance.status, 'RESTORING');
    assert.equal(
      (await daemon.gql(RESTORE, { id: source, backupId: backup.id })).data.restoreInstance.status,
      'RESTORING',
      'asking again changes nothing',
    );
    assert.equal((await statusWhen(daemon, source, 'RUNNING')).status, 'RUNNING');

    assert.deepEqual(await partnerNames(source), ['Alice', 'Bob']);
    assert.deepEqual(await readFilestore(cephfs, source), { 'ab/ab12cd': 'first attachment' });
    assert.deepEqual(
      await tenantDatabases(source),
      [{ datname: tenantDatabaseName(source), owner: tenantRoleName(source) }],
      'same name and owner; nothing left aside',
    );
    assert.deepEqual(await odooShape(source), { collation: 'C', pgTrgm: tenantRoleName(source) });

    const { backups } = (await daemon.gql(BACKUPS, { id: source })).data.instance;
    const final = backups.find((candidate: { kind: string }) => candidate.kind === 'FINAL');
    assert.equal(final?.status, 'COMPLETED', 'the data it replaced was backed up first');
    const history = await daemon.gql('query($id: ID!) { instance(id: $id) { events(first: 1000) { nodes { from to } } } }', { id: source });
    const moves = history.data.instance.events.nodes
      .filter((event: { to: string | null }) => event.to)
      .map((event: { from: string; to: string }) => `${event.from}->${event.to}`);
    assert.deepEqual(moves.slice(-3), ['RUNNING->RESTORING', 'RESTORING->STARTING', 'STARTING->RUNNING']);
  });

  it('shows the age of the newest completed backup and the failures in /metrics', async () => {
    const metrics = await (await scrapeMetrics(daemon.url)).text();
    const age = new RegExp(`orchestrator_backup_newest_age_seconds\\{instance_id="${source}"\\} ([0-9.e+]+)`).exec(metrics);
    assert.ok(age, 'a gauge for the instance');
    assert.ok(Number(age[1]) < 600, `the newest backup is recent (${age[1]} s)`);
    assert.match(metrics, /orchestrator_backups_failed \d+/);
  });

  it('downloads a backup as a zip that Odoo restores: dump.sql, filestore/…, manifest.json; nobody else may', async () => {
    const url = `${daemon.url}/backups/${firstBackup}/download`;
    const csrf = { 'x-graphql-yoga-csrf': '1' };
    const owner = await customerToken(instanceInput().customerId);
    assert.equal((await fetch(url, { headers: csrf })).status, 401);
    const basic = `Basic ${Buffer.from(`operator:${daemon.deps.config.adminToken}`).toString('base64')}`;
    assert.equal(
      (await fetch(url, { headers: { ...csrf, authorization: basic } })).status,
      401,
      'Bearer only: a browser resends Basic by itself',
    );
    assert.equal((await fetch(url, { headers: { authorization: `Bearer ${owner}` } })).status, 403, 'the CSRF header is required');
    const stranger = await fetch(url, {
      headers: { ...csrf, authorization: `Bearer ${await customerToken('0b5f0e3a-9a43-4c54-8f7e-3f1e4f5a6b7c')}` },
    });
    assert.equal(stranger.status, 404, 'another customer cannot tell the backup exists');
    const response = await fetch(url, { headers: { ...csrf, authorization: `Bearer ${owner}` } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/zip');
    const zipPath = join(tmpdir(), `backup-${firstBackup}.zip`);
    await writeFile(zipPath, Buffer.from(await response.arrayBuffer()));
    const python = [
      'import json, sys, zipfile',
      'z = zipfile.ZipFile(sys.argv[1])',
      "sql = z.read('dump.sql').decode()",
      "print(json.dumps({'names': sorted(z.namelist()), 'bad': z.testzip(), 'manifest': json.loads(z.read('manifest.json')),",
      "  'table': 'CREATE TABLE public.x_backup_probe' in sql, 'rows': 'Alice' in sql and 'Bob' in sql and 'Mallory' not in sql,",
      "  'attachment': z.read('filestore/ab/ab12cd').decode()}))",
    ].join('\n');
    const opened = JSON.parse(execFileSync('python3', ['-c', python, zipPath], { encoding: 'utf8' }));
    await rm(zipPath, { force: true });
    assert.equal(opened.bad, null, 'every entry passes its CRC check');
    assert.ok(
      opened.names.includes('dump.sql') && opened.names.includes('manifest.json') && opened.names.includes('filestore/ab/ab12cd'),
      opened.names.join(', '),
    );
    assert.ok(opened.names.every((name: string) => ['dump.sql', 'manifest.json'].includes(name) || name.startsWith('filestore/')));
    assert.deepEqual(opened.manifest, {
      odoo_dump: '1',
      db_name: tenantDatabaseName(source),
      version: '17.0',
      version_info: [17, 0, 0, 'final', 0, ''],
      major_version: '17.0',
      pg_version: opened.manifest.pg_version,
      modules: { base: '17.0.1.0' },
    });
    assert.match(opened.manifest.pg_version, /^\d+\.\d+$/);
    assert.ok(opened.table && opened.rows, 'plain SQL with the table and the rows backed up');
    assert.equal(opened.attachment, 'first attachment');
    assert.deepEqual(
      await eventually(
        () => readdir(exportsDir(cephfs, source)),
        (names) => names.length === 0,
        10_000,
      ),
      [],
      'the plain-SQL export is removed once sent',
    );
  });

  it('a restore that fails (a damaged backup) leaves the tenant with the data it had', async () => {
    const damaged = (await completedBackup(daemon, (await daemon.gql(BACKUP_INSTANCE, { id: source })).data.backupInstance.id)).id;
    await writePartners(source, ['Carol']);
    await writeAttachment(cephfs, source, 'cd56ef', 'kept');
    const dumpPath = join(backupDir(cephfs, source, damaged), 'dump.custom');
    const dump = await readFile(dumpPath);
    dump[dump.length - 10]! ^= 0xff;
    await writeFile(dumpPath, dump);

    const restoring = await daemon.gql(RESTORE, { id: source, backupId: damaged });
    assert.equal(restoring.data.restoreInstance.status, 'RESTORING');
    assert.equal((await statusWhen(daemon, source, 'RUNNING')).status, 'RUNNING');
    assert.deepEqual(await partnerNames(source), ['Alice', 'Bob', 'Carol']);
    assert.deepEqual(await readFilestore(cephfs, source), { 'ab/ab12cd': 'first attachment', 'cd/cd56ef': 'kept' });
    assert.deepEqual(await tenantDatabases(source), [{ datname: tenantDatabaseName(source), owner: tenantRoleName(source) }]);
    const restore = await daemon.deps.db.selectFrom('restores').selectAll().where('backup_id', '=', damaged).executeTakeFirstOrThrow();
    assert.equal(restore.status, 'FAILED');
    assert.match(restore.error ?? '', /FAILED|sha|checksum|exit code/i);
  });

  let finalOfTerminated: string;
  let terminatedIdentity: Record<string, string>;

  it('takes a FINAL backup before termination drops the database, and keeps it', async () => {
    const doomed = await runningInstance(daemon);
    terminatedIdentity = await identity(doomed);
    await writePartners(doomed, ['Last words']);
    await writeAttachment(cephfs, doomed, '0a0b0c', 'last file');
    const { answered, terminated } = await terminatedInstance(daemon, doomed);
    assert.equal(answered.status, 'TERMINATING', 'answered at once, before the final backup');
    assert.equal(terminated.status, 'TERMINATED', terminated.error ?? '');
    const { backups } = (await daemon.gql(BACKUPS, { id: doomed })).data.instance;
    assert.equal(backups.length, 1);
    assert.equal(backups[0].kind, 'FINAL');
    assert.equal(backups[0].status, 'COMPLETED');
    assert.ok(new Date(backups[0].finishedAt) <= new Date(), 'completed before the drop');
    assert.deepEqual(await tenantDatabases(doomed), [], 'the database is dropped');
    finalOfTerminated = backups[0].id;
  });

  it('starts a new instance from a backup (of a terminated one), loaded before its first start', async () => {
    const created = await daemon.gql(CREATE_INSTANCE, {
      input: instanceInput({ fromBackupId: finalOfTerminated, memoryLimit: '512M', cpuLimit: 0.5 }),
    });
    assert.equal(created.errors, undefined, JSON.stringify(created.errors));
    const id = created.data.createInstance.id;
    const provisioned = await daemon.gql(PROVISION, { id });
    assert.equal(provisioned.errors, undefined, JSON.stringify(provisioned.errors));
    assert.equal((await statusWhen(daemon, id, 'RUNNING')).status, 'RUNNING');
    assert.deepEqual(await partnerNames(id), ['Last words']);
    assert.deepEqual(await readFilestore(cephfs, id), { '0a/0a0b0c': 'last file' });
    assert.deepEqual(await tenantDatabases(id), [{ datname: tenantDatabaseName(id), owner: tenantRoleName(id) }]);
    assert.deepEqual(await odooShape(id), { collation: 'C', pgTrgm: tenantRoleName(id) });
    // A copy is a new database: Odoo's own identity for it, and its own address.
    const copied = await identity(id);
    assert.notEqual(copied['database.uuid'], terminatedIdentity['database.uuid']);
    assert.notEqual(copied['database.secret'], terminatedIdentity['database.secret']);
    assert.match(copied['database.secret']!, /^[0-9a-f-]{32,36}$/);
    assert.equal(copied['web.base.url'], `https://${created.data.createInstance.subdomain}.${daemon.deps.config.baseDomain}`);
    const moves = (
      await daemon.gql('query($id: ID!) { instance(id: $id) { events(first: 1000) { nodes { from to } } } }', { id })
    ).data.instance.events.nodes
      .filter((event: { to: string | null }) => event.to)
      .map((event: { from: string; to: string }) => `${event.from}->${event.to}`);
    assert.deepEqual(moves.slice(0, 4), ['CREATING->ALLOCATED', 'ALLOCATED->RESTORING', 'RESTORING->ALLOCATED', 'ALLOCATED->PROVISIONING']);
  });

  it('refuses a backup of another customer as a starting point', async () => {
    const created = await daemon.gql(CREATE_INSTANCE, {
      input: instanceInput({ fromBackupId: firstBackup, customerId: '0b5f0e3a-9a43-4c54-8f7e-3f1e4f5a6b7c' }),
    });
    assert.equal(created.errors?.[0]?.extensions?.code, 'VALIDATION_FAILED');
    assert.match(created.errors[0].message, /fromBackupId/);
  });
});
