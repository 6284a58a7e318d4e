/**
 * Off-site backups on a real radosgw (the bucket and user of the local Ceph bring-up, BACKUP_S3_* in .local/env).
 * The daemon reaches it through a TCP proxy the suite can cut, so radosgw itself stays up for everyone else.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupKeyId } from '../src/crypto/backup-cipher.js';
import { applyRetention } from '../src/domain/backups/backup-retention.js';
import { ensureLocalCopy } from '../src/domain/offsite/offsite-copies.js';
import { pruneLocalCopies } from '../src/domain/offsite/offsite-retention.js';
import { abortMultipart, deleteObject, getObjectBytes, listKeys, putObject, unfinishedUploads } from '../src/s3/bucket.js';
import { backupDir, instanceBackupsDir } from '../src/swarm/backup-job.js';
import {
  CREATE_INSTANCE,
  eventually,
  instanceInput,
  registerLocalPool,
  resetState,
  scrapeMetrics,
  startTestDaemon,
  testRun,
  type TestDaemon,
} from './support/harness.js';
import { INSTANCE, PROVISION, allocatedInstance, settledInstance } from './support/odoo.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { partnerNames, readFilestore, writeAttachment, writePartners } from './support/tenant-data.js';

const OFFSITE = 'offsite { status uploadedAt key keyId attempts nextAttemptAt error }';
const BACKUP_INSTANCE = `mutation($id: ID!) { backupInstance(instanceId: $id) { id status } }`;
const BACKUP = `query($id: ID!) { backup(id: $id) { id instanceId status error ${OFFSITE} } }`;
const RESTORE = `mutation($id: ID!, $backupId: ID!) { restoreInstance(instanceId: $id, backupId: $backupId) { id status } }`;
const EVENTS = 'query($id: ID!) { instance(id: $id) { events(first: 1000) { nodes { from to message } } } }';
const DAY = 24 * 3600 * 1000;

const oldKey = randomBytes(32).toString('base64');
const newKey = randomBytes(32).toString('base64');
const idOf = (key: string) => backupKeyId(Buffer.from(key, 'base64'));

describe('off-site backups on a real radosgw', () => {
  let daemon: TestDaemon;
  let proxy: TcpProxy;
  let cephfs: string;
  const prefix = `${testRun}/`;

  const start = async (keys: Record<string, string>) => {
    daemon = await startTestDaemon({
      BACKUP_S3_BUCKET: process.env.BACKUP_S3_BUCKET!,
      BACKUP_S3_ENDPOINT: proxy.url,
      BACKUP_S3_PREFIX: prefix,
      BACKUP_S3_RETRY_BASE_SECONDS: '1',
      BACKUP_S3_RETRY_MAX_SECONDS: '2',
      // Retention runs when a test calls it, keeping the newest backup of each instance; local copies one day.
      BACKUP_RETENTION_CRON: '0 0 1 1 *',
      BACKUP_KEEP_DAILY: '1',
      BACKUP_KEEP_WEEKLY: '0',
      BACKUP_KEEP_MONTHLY: '0',
      BACKUP_KEEP_LOCAL_DAYS: '1',
      ...keys,
    });
    cephfs = daemon.deps.config.cephfsRoot;
  };
  const bucket = () => daemon.deps.offsite!.bucket;

  before(async () => {
    assert.ok(
      process.env.BACKUP_S3_BUCKET && process.env.BACKUP_S3_ENDPOINT,
      'no S3 destination in the environment: scripts/env/up.sh writes BACKUP_S3_* into .local/env from the local radosgw',
    );
    proxy = await startTcpProxy(process.env.BACKUP_S3_ENDPOINT);
    await start({ BACKUP_ENCRYPTION_KEY: oldKey });
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 10);
  });
  after(async () => {
    proxy.restore();
    await resetState(daemon.deps);
    for (const key of await listKeys(bucket(), prefix)) await deleteObject(bucket(), key);
    for (const upload of await unfinishedUploads(bucket(), prefix)) await abortMultipart(bucket(), upload.key, upload.uploadId);
    await daemon.stop();
    await proxy.close();
  });

  const backupView = async (id: string) => (await daemon.gql(BACKUP, { id })).data.backup;
  const uploaded = (id: string, timeoutMs = 60_000) =>
    eventually(
      () => backupView(id),
      (backup) => ['COMPLETED', 'FAILED'].includes(backup.offsite?.status),
      timeoutMs,
      200,
    );
  const completedBackup = async (instanceId: string) => {
    const requested = await daemon.gql(BACKUP_INSTANCE, { id: instanceId });
    assert.equal(requested.errors, undefined, JSON.stringify(requested.errors));
    const backup = await eventually(
      () => backupView(requested.data.backupInstance.id),
      (view) => view.status === 'COMPLETED' || view.status === 'FAILED',
      120_000,
      200,
    );
    assert.equal(backup.status, 'COMPLETED', backup.error);
    return backup;
  };
  const download = (backupId: string) =>
    fetch(`${daemon.url}/backups/${backupId}/download`, {
      headers: { authorization: `Bearer ${daemon.deps.config.adminToken}`, 'x-graphql-yoga-csrf': '1' },
    });
  const restoreOf = (backupId: string) =>
    eventually(
      () =>
        daemon.deps.db
          .selectFrom('restores')
          .selectAll()
          .where('backup_id', '=', backupId)
          .orderBy('created_at', 'desc')
          .executeTakeFirstOrThrow(),
      (row) => row.status === 'COMPLETED' || row.status === 'FAILED',
      180_000,
      250,
    );
  /** Until no upload is due or under way (uploads of earlier tests would share the proxy's byte count). */
  const uploadsSettled = () =>
    eventually(
      () => daemon.deps.db.selectFrom('backups').select('id').where('offsite_status', 'in', ['PENDING', 'UPLOADING']).execute(),
      (rows) => rows.length === 0,
      60_000,
      200,
    );
  const moves = async (id: string) =>
    ((await daemon.gql(EVENTS, { id })).data.instance.events.nodes as { from: string; to: string | null; message: string }[])
      .filter((event) => event.to)
      .map((event) => `${event.from}->${event.to}`);

  let source: string;
  let first: { id: string; offsite: { status: string; key: string; keyId: string; uploadedAt: string } };

  it('uploads every completed backup, encrypted: the bucket holds none of the tenant data in the clear', async () => {
    const { id } = await allocatedInstance(daemon);
    await daemon.gql(PROVISION, { id });
    assert.equal((await settledInstance(daemon, id)).status, 'RUNNING');
    source = id;
    await writePartners(source, ['Alice', 'Bob']);
    await writeAttachment(cephfs, source, 'ab12cd', 'first attachment, confidential');

    const backup = await completedBackup(source);
    first = await uploaded(backup.id);
    assert.equal(first.offsite.status, 'COMPLETED', JSON.stringify(first.offsite));
    assert.equal(first.offsite.key, `${prefix}${source}/${backup.id}/`);
    assert.equal(first.offsite.keyId, idOf(oldKey));
    assert.ok(first.offsite.uploadedAt);

    const keys = (await listKeys(bucket(), first.offsite.key)).sort();
    assert.deepEqual(
      keys.map((key) => key.slice(first.offsite.key.length)),
      ['dump.custom.enc', 'filestore.tar.enc', 'manifest.json.enc'],
    );
    for (const key of keys) {
      const bytes = await getObjectBytes(bucket(), key);
      assert.equal(bytes.subarray(0, 4).toString(), 'OOBK', key);
      for (const clear of ['first attachment', 'Alice', 'x_backup_probe', source, 'databaseName'])
        assert.ok(!bytes.includes(clear), `${key} shows "${clear}" in the clear`);
    }
    const metrics = await (await scrapeMetrics(daemon.url)).text();
    assert.match(metrics, /^orchestrator_offsite_uploads_total\{outcome="completed"\} [1-9]/m);
    assert.match(metrics, /^orchestrator_backups_offsite\{status="COMPLETED"\} [1-9]/m);
  });

  it('restores in place from off-site once the local copy is gone: fetched and verified while the tenant still runs', async () => {
    await writePartners(source, ['Mallory']);
    await writeAttachment(cephfs, source, 'ab12cd', 'overwritten');
    await rm(backupDir(cephfs, source, first.id), { recursive: true });

    const restoring = await daemon.gql(RESTORE, { id: source, backupId: first.id });
    assert.equal(restoring.errors, undefined, JSON.stringify(restoring.errors));
    assert.equal(restoring.data.restoreInstance.status, 'RUNNING', 'the tenant runs until its backup is fetched');
    assert.equal((await restoreOf(first.id)).status, 'COMPLETED');
    assert.equal(
      (
        await eventually(
          async () => (await daemon.gql(INSTANCE, { id: source })).data.instance,
          (view) => view.status === 'RUNNING',
          120_000,
        )
      ).status,
      'RUNNING',
    );
    assert.deepEqual(await partnerNames(source), ['Alice', 'Bob']);
    assert.deepEqual(await readFilestore(cephfs, source), { 'ab/ab12cd': 'first attachment, confidential' });
    assert.deepEqual((await moves(source)).slice(-3), ['RUNNING->RESTORING', 'RESTORING->STARTING', 'STARTING->RUNNING']);
  });

  it('downloads a backup from off-site, and starts a new instance from it', async () => {
    await rm(backupDir(cephfs, source, first.id), { recursive: true });
    const response = await download(first.id);
    assert.equal(response.status, 200, await response.clone().text());
    const zipPath = join(tmpdir(), `offsite-${first.id}.zip`);
    await writeFile(zipPath, Buffer.from(await response.arrayBuffer()));
    const python =
      "import json, sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nprint(json.dumps({'bad': z.testzip(), 'rows': 'Alice' in z.read('dump.sql').decode(), 'file': z.read('filestore/ab/ab12cd').decode()}))";
    const opened = JSON.parse(execFileSync('python3', ['-c', python, zipPath], { encoding: 'utf8' }));
    await rm(zipPath, { force: true });
    assert.deepEqual(opened, { bad: null, rows: true, file: 'first attachment, confidential' });

    await rm(backupDir(cephfs, source, first.id), { recursive: true });
    const created = await daemon.gql(CREATE_INSTANCE, {
      input: instanceInput({ fromBackupId: first.id, memoryLimit: '512M', cpuLimit: 0.5 }),
    });
    assert.equal(created.errors, undefined, JSON.stringify(created.errors));
    const id = created.data.createInstance.id;
    const load = await eventually(
      () => daemon.deps.db.selectFrom('restores').selectAll().where('instance_id', '=', id).executeTakeFirstOrThrow(),
      (row) => row.status === 'COMPLETED' || row.status === 'FAILED',
      120_000,
      250,
    );
    assert.equal(load.status, 'COMPLETED', load.error ?? '');
    assert.deepEqual(await partnerNames(id), ['Alice', 'Bob']);
    assert.deepEqual(await moves(id), ['CREATING->ALLOCATED', 'ALLOCATED->RESTORING', 'RESTORING->ALLOCATED']);
  });

  it('refuses a tampered off-site copy with a clear error, and changes nothing', async () => {
    await writePartners(source, ['Zed']);
    const dumpKey = `${first.offsite.key}dump.custom.enc`;
    const manifestKey = `${first.offsite.key}manifest.json.enc`;
    const [dump, manifest] = await Promise.all([getObjectBytes(bucket(), dumpKey), getObjectBytes(bucket(), manifestKey)]);
    try {
      const tampered = Buffer.from(dump);
      tampered[200]! ^= 0x01;
      await putObject(bucket(), dumpKey, tampered);
      await rm(backupDir(cephfs, source, first.id), { recursive: true, force: true });
      const before = await moves(source);

      const restoring = await daemon.gql(RESTORE, { id: source, backupId: first.id });
      assert.equal(restoring.data.restoreInstance.status, 'RUNNING');
      const refused = await restoreOf(first.id);
      assert.equal(refused.status, 'FAILED');
      assert.match(
        refused.error ?? '',
        /off-site copy does not verify \(dump\.custom: its chunk 0 does not authenticate.*\); it was not used and nothing was changed/,
      );
      assert.deepEqual(await moves(source), before, 'the tenant was never stopped');
      assert.equal((await daemon.gql(INSTANCE, { id: source })).data.instance.status, 'RUNNING');
      assert.deepEqual(await partnerNames(source), ['Alice', 'Bob', 'Zed']);
      const events = (await daemon.gql(EVENTS, { id: source })).data.instance.events.nodes;
      assert.match(events.at(-1).message, /restore from backup .* refused: .*does not verify/);
      const left = (await readdir(instanceBackupsDir(cephfs, source))).filter((name) => name.includes(first.id));
      assert.deepEqual(left, [], 'nothing half-fetched is left, nothing put in place');

      const response = await download(first.id);
      assert.equal(response.status, 409);
      assert.match((await response.json()).error, /does not verify \(dump\.custom: /);

      await putObject(bucket(), manifestKey, Buffer.concat([manifest, Buffer.from('appended')]));
      const refusedAtOnce = await daemon.gql(RESTORE, { id: source, backupId: first.id });
      assert.equal(refusedAtOnce.errors?.[0]?.extensions?.code, 'CONFLICT');
      assert.match(refusedAtOnce.errors[0].message, /off-site copy does not verify \(manifest\.json: /);
    } finally {
      await putObject(bucket(), manifestKey, manifest);
      await putObject(bucket(), dumpKey, dump);
    }
  });

  it('keeps the local backup when the bucket goes away mid-upload, retries with backoff and resumes where it stopped', async () => {
    await uploadsSettled();
    const { id } = await allocatedInstance(daemon);
    // Five parts, three sent at once: the cut comes once the first three had room to finish.
    await writeAttachment(cephfs, id, 'ff00ff', randomBytes(40 * 1024 * 1024));
    proxy.cutAfter(30 * 1024 * 1024);
    const backup = await completedBackup(id);
    assert.equal(backup.error, null, 'the backup itself is not failed');

    const retried = await eventually(
      () => backupView(backup.id),
      (view) => view.offsite.attempts >= 2,
      60_000,
      200,
    );
    assert.equal(retried.offsite.status, 'PENDING');
    assert.match(retried.offsite.error, /S3 /);
    assert.ok(retried.offsite.nextAttemptAt);
    const ready = await fetch(`${daemon.url}/readyz`);
    assert.equal(ready.status, 200, 'the daemon stays ready');
    assert.notEqual((await ready.json()).offsite, 'ok', '/readyz names the storage that is away');
    assert.match(await (await scrapeMetrics(daemon.url)).text(), /^orchestrator_offsite_uploads_total\{outcome="failed"\} [1-9]/m);

    proxy.restore();
    assert.equal((await uploaded(backup.id)).offsite.status, 'COMPLETED');
    const resumedAt = daemon.logs
      .map((line) => JSON.parse(line))
      .filter((line) => line.event === 'offsite.upload_resumed' && line.backupId === backup.id);
    assert.ok(resumedAt.length > 0 && resumedAt.every((line) => line.fromPart >= 2), JSON.stringify(resumedAt));

    // What was uploaded in two goes is the backup, byte for byte (sha256 checked after decryption).
    const dir = backupDir(cephfs, id, backup.id);
    const sizes = await Promise.all(['dump.custom', 'filestore.tar'].map(async (name) => (await stat(join(dir, name))).size));
    await rm(dir, { recursive: true });
    const row = await daemon.deps.db.selectFrom('backups').selectAll().where('id', '=', backup.id).executeTakeFirstOrThrow();
    const manifest = await ensureLocalCopy(daemon.deps, row);
    assert.deepEqual(
      manifest.files.map((file) => file.size),
      sizes,
    );
  });

  it('hands an upload under way to the next daemon; after a key rotation new uploads use the new key, old copies still open, and without the old key they are refused by name', async () => {
    // The daemon stops while an upload hangs: it does not wait for it, and the next leader takes it over from the rows.
    proxy.hold();
    const handedOver = await completedBackup(source);
    await eventually(
      () => daemon.deps.db.selectFrom('backups').select('offsite_status').where('id', '=', handedOver.id).executeTakeFirstOrThrow(),
      (row) => row.offsite_status === 'UPLOADING',
      30_000,
      50,
    );
    const stopping = Date.now();
    await daemon.stop();
    assert.ok(Date.now() - stopping < 5000, `the daemon stopped in ${Date.now() - stopping} ms with an upload hanging`);
    proxy.restore();
    await start({ BACKUP_ENCRYPTION_KEY: newKey, BACKUP_ENCRYPTION_KEY_PREVIOUS: oldKey });
    const fresh = await uploaded(handedOver.id);
    assert.equal(fresh.offsite.status, 'COMPLETED');
    assert.equal(fresh.offsite.keyId, idOf(newKey), 'sealed under the key of the daemon that uploaded it');
    // The held request reached the bucket once let through: the upload it started is not left behind.
    assert.deepEqual(await unfinishedUploads(bucket(), fresh.offsite.key), []);
    await rm(backupDir(cephfs, source, first.id), { recursive: true, force: true });
    const readable = await download(first.id);
    assert.equal(readable.status, 200, `sealed under the previous key, still readable: ${await readable.clone().text()}`);

    await daemon.stop();
    await start({ BACKUP_ENCRYPTION_KEY: newKey });
    await rm(backupDir(cephfs, source, first.id), { recursive: true, force: true });
    const refused = await download(first.id);
    assert.equal(refused.status, 409);
    assert.match((await refused.json()).error, new RegExp(`encrypted under key ${idOf(oldKey)}, which is neither BACKUP_ENCRYPTION_KEY`));
    await daemon.stop();
    await start({ BACKUP_ENCRYPTION_KEY: newKey, BACKUP_ENCRYPTION_KEY_PREVIOUS: oldKey });
  });

  it('applies retention to both copies; local copies may go sooner than off-site ones', async () => {
    await uploadsSettled();
    const before = await daemon.deps.db.selectFrom('backups').selectAll().execute();
    assert.ok((await applyRetention(daemon.deps)) > 0);
    const kept = await daemon.deps.db.selectFrom('backups').selectAll().execute();
    assert.ok(kept.length < before.length);
    const keptPrefixes = kept.map((backup) => backup.offsite_key).filter(Boolean);
    const stored = await listKeys(bucket(), prefix);
    assert.deepEqual(
      [...new Set(stored.map((key) => key.slice(0, key.lastIndexOf('/') + 1)))].sort(),
      [...keptPrefixes].sort(),
      'the bucket holds the kept backups, and only those',
    );
    assert.deepEqual(await unfinishedUploads(bucket(), prefix), [], 'and no unfinished upload');

    const uploadedBackups = kept.filter((backup) => backup.offsite_status === 'COMPLETED');
    const local = await Promise.all(
      uploadedBackups.map((backup) =>
        stat(backupDir(cephfs, backup.instance_id, backup.id)).then(
          () => 1,
          () => 0,
        ),
      ),
    );
    assert.ok(local.includes(1));
    assert.equal(
      await pruneLocalCopies(daemon.deps, new Date(Date.now() + 2 * DAY)),
      local.reduce((sum: number, one) => sum + one, 0),
    );
    for (const backup of uploadedBackups) {
      await assert.rejects(stat(backupDir(cephfs, backup.instance_id, backup.id)), { code: 'ENOENT' });
    }
    assert.equal((await daemon.deps.db.selectFrom('backups').selectAll().execute()).length, kept.length, 'their rows stay');
  });

  it('without a destination: backups stay local only, and /readyz and one log line say so', async () => {
    const plain = await startTestDaemon({ LEADER_RETRY_MS: '60000' });
    try {
      assert.equal(plain.logs.filter((line) => JSON.parse(line).event === 'offsite.not_configured').length, 1);
      assert.equal((await (await fetch(`${plain.url}/readyz`)).json()).offsite, 'not configured: backups stay local only');
    } finally {
      await plain.stop();
    }
  });
});
