/**
 * Tenants on the real CephFS (scripts/env/ceph.sh): their plan's storage limit as their data dir's quota, what they
 * store as the API and /metrics show it, backups archived from a snapshot taken with the database's, and tenant
 * directories moved across a quota. Skipped with CEPHFS_MODE=plain.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { changeInstancePlan } from '../src/domain/instances/plan-change.js';
import { resolvePlan } from '../src/domain/instances/plans.js';
import { tenantDatabaseName } from '../src/domain/names.js';
import { measureStorageUsage } from '../src/domain/instances/storage-usage.js';
import { instanceArchiveDir, instanceDataDir } from '../src/storage/layout.js';
import { backupDir, instanceBackupsDir } from '../src/swarm/backup-job.js';
import {
  customerToken,
  defaultCustomerId,
  eventually,
  registerLocalPool,
  resetState,
  scrapeMetrics,
  startTestDaemon,
  type TestDaemon,
} from './support/harness.js';
import { INSTANCE, PROVISION, allocatedInstance, instanceWithStatus, settledInstance, terminatedInstance } from './support/odoo.js';
import { cephAttribute, execIn, runningContainer } from './support/storage.js';
import { filestoreDir, withTenant } from './support/tenant-data.js';

const MB = 2 ** 20;
const UPSERT_PLAN = 'mutation($input: PlanInput!) { upsertPlan(input: $input) { name storageLimit storageLimitBytes } }';
const USAGE = `query($id: ID!) { instance(id: $id) { status storageLimitBytes error
  usage { filestoreBytes databaseBytes backupBytes measuredAt overLimitSince } } }`;
const BACKUP = 'mutation($id: ID!) { backupInstance(instanceId: $id) { id status } }';
const BACKUP_STATUS = 'query($id: ID!) { backup(id: $id) { id status error sizeBytes startedAt finishedAt } }';
const RESTORE = 'mutation($id: ID!, $backupId: ID!) { restoreInstance(instanceId: $id, backupId: $backupId) { id status } }';
const EVENTS = 'query($id: ID!) { instance(id: $id) { events(first: 1000) { nodes { from to cause message } } } }';

const sha1 = (content: Buffer) => createHash('sha1').update(content).digest('hex');

describe('tenants on CephFS', { skip: process.env.CEPHFS_MODE === 'plain' && 'CEPHFS_MODE=plain: no CephFS here' }, () => {
  let daemon: TestDaemon;
  let root: string;
  let id: string;
  let dataDir: string;
  const events = async () => (await daemon.gql(EVENTS, { id })).data.instance.events.nodes as { cause: string; message: string | null }[];
  const completed = (backupId: string) =>
    eventually(
      async () => (await daemon.gql(BACKUP_STATUS, { id: backupId })).data.backup,
      (backup) => backup.status === 'COMPLETED' || backup.status === 'FAILED',
      120_000,
      250,
    );

  before(async () => {
    daemon = await startTestDaemon({
      DEFAULT_PLAN: 'storage-small',
      STORAGE_OVER_LIMIT: 'suspend',
      STORAGE_USAGE_CRON: '0 0 1 1 *',
      FILESTORE_ON_TERMINATE: 'archive',
    });
    root = daemon.deps.storage.root;
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 5);
    const plan = await daemon.gql(UPSERT_PLAN, {
      input: { name: 'storage-small', cpuLimit: 0.5, memoryLimit: '512M', storageLimit: '64M' },
    });
    assert.deepEqual(plan.data.upsertPlan, { name: 'storage-small', storageLimit: '64M', storageLimitBytes: 64 * MB });
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it("gives the tenant's data dir its plan's quota: a write past it fails in the tenant's container with EDQUOT; no snapshots for it", async () => {
    ({ id } = await allocatedInstance(daemon));
    await daemon.gql(PROVISION, { id });
    assert.equal((await settledInstance(daemon, id)).status, 'RUNNING');
    dataDir = instanceDataDir(root, id);
    assert.equal((await daemon.gql(USAGE, { id })).data.instance.storageLimitBytes, 64 * MB);
    assert.equal(cephAttribute(dataDir, 'ceph.quota.max_bytes'), 64 * MB);

    const { service_id: serviceId } = await daemon.deps.db
      .selectFrom('instances')
      .select('service_id')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    const container = await runningContainer(daemon.deps.docker, serviceId!);
    const fill = await execIn(daemon.deps.docker, container, ['dd', 'if=/dev/zero', 'of=/var/lib/odoo/fill', 'bs=1M', 'count=200']);
    assert.notEqual(fill.code, 0);
    assert.match(fill.output, /Disk quota exceeded/);
    const written = (await stat(join(dataDir, 'fill'))).size;
    // The client enforces the quota from what it knows of the tree's size: it stops a writer at it, give or take.
    assert.ok(written >= 60 * MB && written < 120 * MB, `stopped at the quota: ${written} bytes`);
    assert.equal((await execIn(daemon.deps.docker, container, ['rm', '/var/lib/odoo/fill'])).code, 0);
    // The space is usable again once the clients learn of the removal (the same lag as any write's).
    await eventually(
      async () => cephAttribute(dataDir, 'ceph.dir.rbytes') ?? 0,
      (bytes) => bytes < 16 * MB,
      30_000,
      100,
    );

    const snapshot = await execIn(daemon.deps.docker, container, ['mkdir', '/var/lib/odoo/.snap/mine']);
    assert.notEqual(snapshot.code, 0);
    assert.match(snapshot.output, /Permission denied/, 'the tenants’ mount has no snapshot rights');
  });

  let consistentBackup: string;

  it('backs up the filestore from a snapshot taken with the database’s: every row’s file is in the archive while the tenant churns', async () => {
    // Odoo's way: the file first, then the row that names it; a removal drops the row, then the file.
    await withTenant(id, (client) => client.query('create table x_attachment (id serial primary key, sha text not null)'));
    const files = filestoreDir(root, id);
    const write = async (content: Buffer) => {
      const sha = sha1(content);
      await mkdir(join(files, sha.slice(0, 2)), { recursive: true });
      await writeFile(join(files, sha.slice(0, 2), sha), content);
      return sha;
    };
    // 40 MiB: a restore loads a copy beside it, more than the 64 MiB quota holds.
    const base: string[] = [];
    for (let index = 0; index < 40; index++) base.push(await write(randomBytes(MB)));
    await withTenant(id, (client) => client.query('insert into x_attachment (sha) select unnest($1::text[])', [base]));

    // Odoo's attachments: the file first, then the row that names it; a removed row's file goes later, when the garbage
    // collector finds nothing names it (here a second later; Odoo's runs daily).
    let churning = true;
    let churned = 0;
    const collectable: { sha: string; at: number }[] = [];
    const churn = (async () => {
      await withTenant(id, async (client) => {
        while (churning) {
          const sha = await write(randomBytes(4096));
          await client.query('insert into x_attachment (sha) values ($1)', [sha]);
          const removed = await client.query<{ sha: string }>(
            'delete from x_attachment where id = (select min(id) from x_attachment where id > 40) and (select count(*) from x_attachment) > 90 returning sha',
          );
          if (removed.rows[0]) collectable.push({ sha: removed.rows[0].sha, at: Date.now() });
          while (collectable[0] && collectable[0].at < Date.now() - 1000) {
            const { sha: gone } = collectable.shift()!;
            await unlink(join(files, gone.slice(0, 2), gone));
          }
          churned += 1;
        }
      });
    })();
    const requested = await daemon.gql(BACKUP, { id });
    assert.equal(requested.errors, undefined, JSON.stringify(requested.errors));
    const backup = await completed(requested.data.backupInstance.id);
    churning = false;
    await churn;
    assert.equal(backup.status, 'COMPLETED', backup.error);
    consistentBackup = backup.id;
    assert.ok(churned >= 20, `the tenant churned during the backup (${churned})`);

    const dir = backupDir(root, id, backup.id);
    const rows = execFileSync('pg_restore', ['-a', '-t', 'x_attachment', '-f', '-', join(dir, 'dump.custom')], { encoding: 'utf8' })
      .split('\n')
      .map((line) => /^\d+\t([0-9a-f]{40})$/.exec(line)?.[1])
      .filter((sha): sha is string => !!sha);
    assert.ok(rows.length >= 40, `the dump has the rows (${rows.length})`);
    const extracted = await mkdtemp(join(tmpdir(), 'storage-backup-'));
    try {
      execFileSync('tar', ['-C', extracted, '-xf', join(dir, 'filestore.tar')]);
      const missing: string[] = [];
      for (const sha of rows) {
        const content = await readFile(join(extracted, sha.slice(0, 2), sha)).catch(() => null);
        if (!content || sha1(content) !== sha) missing.push(sha);
      }
      assert.deepEqual(missing, [], 'every row of the dump has its file, as it was, in the archive');
    } finally {
      await rm(extracted, { recursive: true, force: true });
    }
    assert.deepEqual(await readdir(join(dataDir, '.snap')), [], 'the snapshot is removed after');
  });

  it('restores a filestore larger than half the quota (loaded beside the one it replaces), then puts the quota back', async () => {
    await writeFile(join(filestoreDir(root, id), 'after-backup'), 'gone after the restore');
    const restoring = await daemon.gql(RESTORE, { id, backupId: consistentBackup });
    assert.equal(restoring.errors, undefined, JSON.stringify(restoring.errors));
    const restored = await instanceWithStatus<{ status: string; error: string | null }>(daemon, id, 'RUNNING', { timeoutMs: 180_000 });
    assert.equal(restored.status, 'RUNNING', restored.error ?? '');
    const restore = await daemon.deps.db
      .selectFrom('restores')
      .selectAll()
      .where('backup_id', '=', consistentBackup)
      .executeTakeFirstOrThrow();
    assert.equal(restore.status, 'COMPLETED', restore.error ?? '');
    await assert.rejects(stat(join(filestoreDir(root, id), 'after-backup')));
    const quota = await eventually(
      async () => cephAttribute(dataDir, 'ceph.quota.max_bytes'),
      (bytes) => bytes === 64 * MB,
      30_000,
    );
    assert.equal(quota, 64 * MB, 'the quota is the limit again once the replaced filestore is gone');
  });

  it('shows what the tenant stores to its owner and in /metrics; over its limit, an event, the metric and a suspension', async () => {
    // rbytes trails writes and removals by a few seconds: the restore just moved a whole tree in, removed the one it
    // replaced, and its final backup was just written.
    const usage = await eventually(
      async () => {
        await measureStorageUsage(daemon.deps);
        return (await daemon.gql(USAGE, { id })).data.instance.usage;
      },
      (measured) => measured.filestoreBytes >= 40 * MB && measured.filestoreBytes <= 64 * MB && measured.backupBytes >= 80 * MB,
      30_000,
      500,
    );
    const [databaseBytes] = await withTenant(id, async (client) =>
      (await client.query<{ bytes: string }>('select pg_database_size(current_database()) as bytes')).rows.map((row) => Number(row.bytes)),
    );
    assert.ok(usage.filestoreBytes >= 40 * MB && usage.filestoreBytes <= 64 * MB, `filestore ${usage.filestoreBytes}`);
    assert.ok(Math.abs(usage.databaseBytes - databaseBytes!) < 2 * MB, `database ${usage.databaseBytes} ~ ${databaseBytes}`);
    assert.ok(usage.backupBytes >= 80 * MB, `backups: the consistent one and the restore's final one (${usage.backupBytes})`);
    assert.equal(usage.backupBytes, cephAttribute(instanceBackupsDir(root, id), 'ceph.dir.rbytes'));
    assert.equal(usage.overLimitSince, null);

    const owner = await daemon.gql(USAGE, { id }, { token: await customerToken(defaultCustomerId) });
    assert.equal(owner.data.instance.usage.filestoreBytes, usage.filestoreBytes);
    const stranger = await daemon.gql(USAGE, { id }, { token: await customerToken('0b5f0e3a-9a43-4c54-8f7e-3f1e4f5a6b7c') });
    assert.equal(stranger.errors?.[0]?.extensions?.code, 'NOT_FOUND');
    const metrics = await (await scrapeMetrics(daemon.url)).text();
    for (const kind of ['filestore', 'database', 'backup']) {
      assert.match(metrics, new RegExp(`orchestrator_tenant_storage_bytes\\{instance_id="${id}",kind="${kind}"\\} [1-9]`));
    }

    // The plan shrinks below what the tenant stores: the quota follows at once, without a restart.
    await daemon.gql(UPSERT_PLAN, { input: { name: 'storage-small', cpuLimit: 0.5, memoryLimit: '512M', storageLimit: '40M' } });
    const trigger = { cause: 'test', actor: 'admin' };
    const shrunk = await changeInstancePlan(daemon.deps, id, await resolvePlan(daemon.deps, 'storage-small'), trigger);
    assert.equal(shrunk.status, 'RUNNING', 'a new storage limit needs no restart');
    assert.equal(cephAttribute(dataDir, 'ceph.quota.max_bytes'), 40 * MB);
    await measureStorageUsage(daemon.deps);
    const over = (await daemon.gql(USAGE, { id })).data.instance;
    assert.equal(over.status, 'SUSPENDED', 'STORAGE_OVER_LIMIT=suspend');
    assert.ok(over.usage.overLimitSince);
    assert.ok((await events()).some((event) => /storage over its limit: \d+ of 41943040 bytes/.test(event.message ?? '')));
    assert.match(
      await (await scrapeMetrics(daemon.url)).text(),
      new RegExp(`orchestrator_tenant_storage_over_limit\\{instance_id="${id}"\\} 1`),
    );

    await daemon.gql(UPSERT_PLAN, { input: { name: 'storage-big', cpuLimit: 0.5, memoryLimit: '512M', storageLimit: '1G' } });
    await changeInstancePlan(daemon.deps, id, await resolvePlan(daemon.deps, 'storage-big'), trigger);
    assert.equal(cephAttribute(dataDir, 'ceph.quota.max_bytes'), 1024 * MB);
    await measureStorageUsage(daemon.deps);
    assert.equal((await daemon.gql(USAGE, { id })).data.instance.usage.overLimitSince, null);
    assert.ok((await events()).some((event) => /storage back within its limit/.test(event.message ?? '')));
  });

  it('archives a terminated filestore into a directory with a quota of its own (a rename across quotas is EXDEV): copied, then removed', async () => {
    const archive = join(root, 'odoo_instances_archive');
    await mkdir(archive, { recursive: true });
    execFileSync('setfattr', ['-n', 'ceph.quota.max_bytes', '-v', String(10 * 1024 * MB), archive]);
    const before = (await readdir(filestoreDir(root, id), { recursive: true })).length;
    const { terminated } = await terminatedInstance(daemon, id);
    assert.equal(terminated.status, 'TERMINATED', terminated.error ?? '');
    await assert.rejects(stat(dataDir), 'the live data dir is gone');
    const archived = instanceArchiveDir(root, id);
    assert.equal((await readdir(join(archived, 'filestore', tenantDatabaseName(id)), { recursive: true })).length, before);
    assert.equal((await stat(archived)).uid, 101, 'owners kept');
    assert.equal((await daemon.gql(INSTANCE, { id })).data.instance.status, 'TERMINATED');
  });
});
