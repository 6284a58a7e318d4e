/**
 * What the backup benches share: the host-side baselines (pg_dump + tar, createdb + pg_restore + untar, run directly
 * against the local pool), a generated filestore, waiting on the daemon's rows, and how figures are printed.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BackupRow, RestoreRow } from '../src/db/schema.js';
import type { Deps } from '../src/deps.js';
import { CREATE_INSTANCE, eventually, instanceInput, localPool, withPoolCatalog, type TestDaemon } from '../test/support/harness.js';
import { filestoreDir } from '../test/support/tenant-data.js';

const run = promisify(execFile);
const FILESTORE_FILES = 200;
const FILE_BYTES = 100 * 1024;
/** How often a daemon's figure is looked at: what a wall-clock figure may overshoot by. */
const POLL_MS = 25;
export const FILESTORE_MB = (FILESTORE_FILES * FILE_BYTES) / 1024 / 1024;

const pgEnv = {
  ...process.env,
  PGHOST: localPool.host,
  PGPORT: String(localPool.port),
  PGUSER: localPool.adminUser,
  PGPASSWORD: localPool.adminPassword,
};

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const format = (ms: number) => `${(ms / 1000).toFixed(2).padStart(7)} s`;

/** The samples of each named figure, their medians, and the table of them (median, min, max). */
export function figures(names: string[]) {
  const samples: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
  const p50 = (name: string) => median(samples[name]!);
  return {
    record: (name: string, ms: number) => void samples[name]!.push(ms),
    p50,
    ratio: (name: string, baseline: number) => `${(p50(name) / baseline).toFixed(2)}x`,
    print: (title: string) => {
      console.log(`\n${title}`);
      const width = Math.max(...names.map((name) => name.length)) + 2;
      for (const [name, values] of Object.entries(samples))
        if (values.length > 0)
          console.log(`${name.padEnd(width)} ${format(median(values))} ${format(Math.min(...values))} ${format(Math.max(...values))}`);
    },
  };
}

/** Asks the daemon for a backup of the instance and waits for its row to satisfy `done`. */
export async function requestedBackup(daemon: TestDaemon, instanceId: string, done: (row: BackupRow) => boolean): Promise<BackupRow> {
  const requested = (await daemon.gql('mutation($id: ID!) { backupInstance(instanceId: $id) { id } }', { id: instanceId })).data
    .backupInstance;
  return eventually(
    () => daemon.deps.db.selectFrom('backups').selectAll().where('id', '=', requested.id).executeTakeFirstOrThrow(),
    done,
    600_000,
    POLL_MS,
  );
}

/** createInstance(fromBackupId): the new instance's load, once it completed. */
export async function loadedInstance(daemon: TestDaemon, backupId: string): Promise<RestoreRow> {
  const created = (
    await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ fromBackupId: backupId, memoryLimit: '512M', cpuLimit: 0.5 }) })
  ).data.createInstance;
  return endedRestore(daemon.deps, 'instance_id', created.id);
}

/** A 20 MB filestore: half random files (like images and PDFs), half text-like, as a filestore holds. */
export async function writeFilestore(cephfsRoot: string, instanceId: string): Promise<void> {
  for (let index = 0; index < FILESTORE_FILES; index++) {
    const name = randomBytes(20).toString('hex');
    await mkdir(join(filestoreDir(cephfsRoot, instanceId), name.slice(0, 2)), { recursive: true });
    await writeFile(
      join(filestoreDir(cephfsRoot, instanceId), name.slice(0, 2), name),
      index % 2 ? randomBytes(FILE_BYTES) : Buffer.alloc(FILE_BYTES, `line ${index}\n`),
    );
  }
}

export const databaseBytes = async (database: string): Promise<number> =>
  Number(
    await withPoolCatalog(
      async (client) => (await client.query<{ size: string }>('select pg_database_size($1) as size', [database])).rows[0]!.size,
    ),
  );

/** The backup baseline: `pg_dump -Fc` as the tenant's role and a tar of its filestore, on the host. */
export async function dumpOnHost(cephfsRoot: string, instanceId: string, role: string, database: string, dump: string, archive: string) {
  await run('pg_dump', ['-Fc', `--role=${role}`, '-d', database, '-f', dump], { env: pgEnv });
  await run('tar', ['-C', filestoreDir(cephfsRoot, instanceId), '-cf', archive, '.']);
}

/** The restore baseline: a fresh database, `pg_restore` into it (with `jobs` connections), untar; all removed after. */
export async function restoreOnHost(role: string, dump: string, archive: string, target: string, jobs = 1): Promise<() => Promise<void>> {
  const fresh = `bench_restore_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withPoolCatalog((client) =>
    client.query(`create database ${client.escapeIdentifier(fresh)} owner ${client.escapeIdentifier(role)} template template0`),
  );
  const parallel = jobs > 1 ? ['-j', String(jobs)] : [];
  await run('pg_restore', ['--no-owner', '--no-privileges', '--exit-on-error', `--role=${role}`, ...parallel, '-d', fresh, dump], {
    env: pgEnv,
  });
  await mkdir(target);
  await run('tar', ['-C', target, '-xpf', archive]);
  return async () => {
    await withPoolCatalog((client) => client.query(`drop database ${client.escapeIdentifier(fresh)}`));
    await rm(target, { recursive: true, force: true });
  };
}

/** The restore (or load) row of `column` = `value` once it ended; throws unless it completed. */
export async function endedRestore(deps: Deps, column: 'instance_id' | 'backup_id', value: string): Promise<RestoreRow> {
  const row = await eventually(
    () => deps.db.selectFrom('restores').selectAll().where(column, '=', value).orderBy('created_at', 'desc').executeTakeFirstOrThrow(),
    (restore) => restore.status === 'COMPLETED' || restore.status === 'FAILED',
    600_000,
    POLL_MS,
  );
  if (row.status !== 'COMPLETED') throw new Error(`restore failed: ${row.error}`);
  return row;
}
