/**
 * Backup and restore of a tenant with about 100 MB of generated data (database and filestore), on the real services,
 * each beside a baseline measured in the same run on the same data: bare `pg_dump -Fc` + `tar`, and bare
 * `pg_restore` into a fresh database + untar, run directly on this host. Ratios are reported, never asserted.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { tenantDatabaseName, tenantRoleName } from '../src/domain/names.js';
import { backupDir } from '../src/swarm/backup-job.js';
import {
  CREATE_INSTANCE,
  eventually,
  instanceInput,
  localPool,
  registerLocalPool,
  resetState,
  startTestDaemon,
  withPoolCatalog,
} from '../test/support/harness.js';
import { PROVISION, allocatedInstance, settledInstance } from '../test/support/odoo.js';
import { filestoreDir, withTenant } from '../test/support/tenant-data.js';

const run = promisify(execFile);
const runs = Number(process.argv[2] ?? 3);
const DB_ROWS = Number(process.env.BENCH_BACKUP_ROWS ?? 450_000);
const FILESTORE_FILES = 200;
const FILE_BYTES = 100 * 1024;

const daemon = await startTestDaemon({ LOG_LEVEL: 'warn' });
await resetState(daemon.deps);
await registerLocalPool(daemon, 'bench-pool', 50);
const cephfs = daemon.deps.config.cephfsRoot;
const pgEnv = {
  ...process.env,
  PGHOST: localPool.host,
  PGPORT: String(localPool.port),
  PGUSER: localPool.adminUser,
  PGPASSWORD: localPool.adminPassword,
};

const { id } = await allocatedInstance(daemon);
await daemon.gql(PROVISION, { id });
if ((await settledInstance(daemon, id)).status !== 'RUNNING') throw new Error('the bench tenant did not start');
const database = tenantDatabaseName(id);
const role = tenantRoleName(id);

process.stderr.write('generating tenant data\n');
await withTenant(id, async (client) => {
  await client.query(
    `create table bench_data (id bigint primary key, partner text, amount numeric(12, 2), note text, created timestamptz)`,
  );
  await client.query(
    `insert into bench_data select g, 'Partner ' || (g % 5000), (g * 37 % 100000) / 100.0, md5(g::text) || ' ' || md5((g * 7)::text) || ' ' || md5((g * 13)::text), now() - make_interval(mins => g) from generate_series(1, $1) g`,
    [DB_ROWS],
  );
});
for (let index = 0; index < FILESTORE_FILES; index++) {
  const name = randomBytes(20).toString('hex');
  await mkdir(join(filestoreDir(cephfs, id), name.slice(0, 2)), { recursive: true });
  // Half random (like images and PDFs), half text-like: what a filestore holds.
  await writeFile(
    join(filestoreDir(cephfs, id), name.slice(0, 2), name),
    index % 2 ? randomBytes(FILE_BYTES) : Buffer.alloc(FILE_BYTES, `line ${index}\n`),
  );
}
const sizes = await withPoolCatalog(
  async (client) => (await client.query<{ size: string }>('select pg_database_size($1) as size', [database])).rows[0]!.size,
);
const filestoreMb = (FILESTORE_FILES * FILE_BYTES) / 1024 / 1024;
process.stderr.write(`tenant data: database ${(Number(sizes) / 1024 / 1024).toFixed(0)} MB, filestore ${filestoreMb.toFixed(0)} MB\n`);

const samples: Record<string, number[]> = {
  'backup: backupInstance to COMPLETED (daemon, Swarm job)': [],
  'backup baseline: pg_dump -Fc + tar, on the host': [],
  'restore: load started to swapped in (daemon, Swarm job; restore row times)': [],
  'restore: createInstance(fromBackupId) to loaded (allocation included)': [],
  'restore baseline: createdb + pg_restore + untar, on the host': [],
  'in place: restoreInstance to data swapped (final backup included)': [],
  'in place: restoreInstance to RUNNING again': [],
};
const record = (name: string, ms: number) => samples[name]!.push(ms);
const work = await mkdtemp(join(tmpdir(), 'backup-bench-'));

for (let index = 0; index < runs; index++) {
  let start = performance.now();
  const requested = (await daemon.gql('mutation($id: ID!) { backupInstance(instanceId: $id) { id } }', { id })).data.backupInstance;
  const backup = await eventually(
    () => daemon.deps.db.selectFrom('backups').selectAll().where('id', '=', requested.id).executeTakeFirstOrThrow(),
    (row) => row.status === 'COMPLETED' || row.status === 'FAILED',
    600_000,
    50,
  );
  if (backup.status !== 'COMPLETED') throw new Error(`backup failed: ${backup.error}`);
  record('backup: backupInstance to COMPLETED (daemon, Swarm job)', performance.now() - start);

  const dump = join(work, `dump-${index}.custom`);
  const archive = join(work, `filestore-${index}.tar`);
  start = performance.now();
  await run('pg_dump', ['-Fc', `--role=${role}`, '-d', database, '-f', dump], { env: pgEnv });
  await run('tar', ['-C', filestoreDir(cephfs, id), '-cf', archive, '.']);
  record('backup baseline: pg_dump -Fc + tar, on the host', performance.now() - start);

  start = performance.now();
  const created = (
    await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ fromBackupId: backup.id, memoryLimit: '512M', cpuLimit: 0.5 }) })
  ).data.createInstance;
  const loaded = await eventually(
    () => daemon.deps.db.selectFrom('restores').selectAll().where('instance_id', '=', created.id).executeTakeFirstOrThrow(),
    (row) => row.status === 'COMPLETED' || row.status === 'FAILED',
    600_000,
    50,
  );
  if (loaded.status !== 'COMPLETED') throw new Error(`load failed: ${loaded.error}`);
  record('restore: createInstance(fromBackupId) to loaded (allocation included)', performance.now() - start);
  record(
    'restore: load started to swapped in (daemon, Swarm job; restore row times)',
    loaded.finished_at!.getTime() - loaded.created_at.getTime(),
  );

  const fresh = `bench_restore_${index}_${process.pid}`;
  const target = join(work, `filestore-${index}`);
  start = performance.now();
  await withPoolCatalog((client) =>
    client.query(`create database ${client.escapeIdentifier(fresh)} owner ${client.escapeIdentifier(role)} template template0`),
  );
  await run('pg_restore', ['--no-owner', '--no-privileges', '--exit-on-error', `--role=${role}`, '-d', fresh, dump], { env: pgEnv });
  await mkdir(target);
  await run('tar', ['-C', target, '-xpf', archive]);
  record('restore baseline: createdb + pg_restore + untar, on the host', performance.now() - start);
  await withPoolCatalog((client) => client.query(`drop database ${client.escapeIdentifier(fresh)}`));
  await rm(target, { recursive: true, force: true });
  await rm(dump, { force: true });
  await rm(archive, { force: true });
  await daemon.gql('mutation($id: ID!) { terminateInstance(instanceId: $id) { id } }', { id: created.id });

  start = performance.now();
  await daemon.gql('mutation($id: ID!, $backupId: ID!) { restoreInstance(instanceId: $id, backupId: $backupId) { id } }', {
    id,
    backupId: backup.id,
  });
  const restore = await eventually(
    () =>
      daemon.deps.db
        .selectFrom('restores')
        .selectAll()
        .where('instance_id', '=', id)
        .orderBy('created_at', 'desc')
        .executeTakeFirstOrThrow(),
    (row) => row.status === 'COMPLETED' || row.status === 'FAILED',
    600_000,
    50,
  );
  if (restore.status !== 'COMPLETED') throw new Error(`restore failed: ${restore.error}`);
  record('in place: restoreInstance to data swapped (final backup included)', performance.now() - start);
  await eventually(
    () => daemon.deps.db.selectFrom('instances').select('status').where('id', '=', id).executeTakeFirstOrThrow(),
    (row) => row.status === 'RUNNING',
    300_000,
    50,
  );
  record('in place: restoreInstance to RUNNING again', performance.now() - start);

  // Only the backups this run measured take room: the final ones of each restore go.
  for (const row of await daemon.deps.db.selectFrom('backups').select(['id', 'instance_id']).where('kind', '=', 'FINAL').execute()) {
    await rm(backupDir(cephfs, row.instance_id, row.id), { recursive: true, force: true });
  }
  process.stderr.write(`run ${index + 1}/${runs} done\n`);
}
await rm(work, { recursive: true, force: true });

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const format = (ms: number) => `${(ms / 1000).toFixed(2).padStart(7)} s`;
const p50 = (name: string) => median(samples[name]!);

console.log(
  `\nbackup bench, ${runs} runs (median, min, max); database ${(Number(sizes) / 1024 / 1024).toFixed(0)} MB + filestore ${filestoreMb.toFixed(0)} MB`,
);
for (const [name, values] of Object.entries(samples))
  console.log(`${name.padEnd(70)} ${format(median(values))} ${format(Math.min(...values))} ${format(Math.max(...values))}`);
console.log('\nratios (daemon / baseline, median; goal at most 1.2)');
console.log(
  `backup  ${(p50('backup: backupInstance to COMPLETED (daemon, Swarm job)') / p50('backup baseline: pg_dump -Fc + tar, on the host')).toFixed(2)}x`,
);
console.log(
  `restore ${(p50('restore: load started to swapped in (daemon, Swarm job; restore row times)') / p50('restore baseline: createdb + pg_restore + untar, on the host')).toFixed(2)}x`,
);
console.log(
  `in place, to data swapped, vs both baselines (it takes a final backup first) ${(p50('in place: restoreInstance to data swapped (final backup included)') / (p50('backup baseline: pg_dump -Fc + tar, on the host') + p50('restore baseline: createdb + pg_restore + untar, on the host'))).toFixed(2)}x`,
);

await resetState(daemon.deps);
await daemon.stop();
