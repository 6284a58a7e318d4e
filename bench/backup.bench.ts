/**
 * Backup and restore of a tenant with about 100 MB of generated data (database and filestore), on the real services,
 * each beside a baseline measured in the same run on the same data: bare `pg_dump -Fc` + `tar`, and bare
 * `pg_restore` into a fresh database + untar, run directly on this host. Ratios are reported, never asserted.
 * Two datasets, each in a tenant of its own: an Odoo-shaped database (what tenants hold), and one big table (the
 * worst case for a job's fixed cost: the least work per byte).
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { tenantDatabaseName, tenantRoleName } from '../src/domain/names.js';
import { backupDir } from '../src/swarm/backup-job.js';
import { oneShotJob } from '../src/swarm/spec-parts.js';
import { createService, removeJob } from '../src/swarm/swarm.js';
import { eventually, registerLocalPool, resetState, startTestDaemon } from '../test/support/harness.js';
import { PROVISION, allocatedInstance, settledInstance } from '../test/support/odoo.js';
import { withTenant } from '../test/support/tenant-data.js';
import { odooShaped, singleTable } from './backup-data.js';
import {
  databaseBytes,
  dumpOnHost,
  endedRestore,
  figures,
  FILESTORE_MB,
  loadedInstance,
  requestedBackup,
  restoreOnHost,
  writeFilestore,
} from './tenant-bench.js';

const runs = Number(process.argv[2] ?? 3);
const datasets: { label: string; generate: (client: pg.Client) => Promise<void> }[] = [
  { label: 'odoo-shaped (~200 tables)', generate: odooShaped },
  { label: 'single table', generate: singleTable },
];

const daemon = await startTestDaemon({ LOG_LEVEL: 'warn' });
await resetState(daemon.deps);
await registerLocalPool(daemon, 'bench-pool', 50);
const cephfs = daemon.deps.config.cephfsRoot;
const BACKUP = 'backup: backupInstance to COMPLETED (daemon, Swarm job)';
const BACKUP_ROWS = 'backup: the same, by the backup row times (no polling in it; not the goal)';
const BACKUP_BASELINE = 'backup baseline: pg_dump -Fc + tar, on the host';
const RESTORE = 'restore: load started to swapped in (daemon, Swarm job; restore row times)';
const LOAD = 'restore: createInstance(fromBackupId) to loaded (allocation included)';
const RESTORE_BASELINE = 'restore baseline: createdb + pg_restore + untar, on the host';
const RESTORE_BASELINE_J2 = 'restore, for comparison: createdb + pg_restore -j 2 + untar, on the host';
const SWAPPED = 'in place: restoreInstance to data swapped (final backup included)';
const RUNNING = 'in place: restoreInstance to RUNNING again';
const EMPTY_JOB = 'floor: an empty one-shot job (`true`, the same image), created to exited';
const work = await mkdtemp(join(tmpdir(), 'backup-bench-'));

/**
 * What any job on the swarm costs before it does anything: Swarm schedules a job's task (~170 ms here) and starts
 * its container (~100 ms). A job of the backup's image, set up as the daemon's jobs are (the tenant's uid, no
 * capabilities, Docker's default bridge), that runs `true`, timed from its creation to its container's exit (the
 * Docker event the daemon waits for too).
 */
async function emptyJobMs(index: number): Promise<number> {
  const { docker, config } = daemon.deps;
  const name = `bench-empty-job-${process.pid}-${index}`;
  const events = await docker.getEvents({
    filters: { type: ['container'], event: ['die'], label: [`com.docker.swarm.service.name=${name}`] },
  });
  const died = once(events, 'data');
  const start = performance.now();
  await createService(
    docker,
    oneShotJob(name, config.dockerLabels, {
      ContainerSpec: {
        Image: config.postgresPoolImage,
        Command: ['true'],
        User: `${config.odooUid}:${config.odooUid}`,
        CapabilityDrop: ['ALL'],
      },
      RestartPolicy: { Condition: 'none', Delay: 0, MaxAttempts: 0 },
    }),
  );
  await died;
  const elapsed = performance.now() - start;
  (events as unknown as { destroy: () => void }).destroy();
  await removeJob(docker, name);
  return elapsed;
}

/** One dataset in a tenant of its own: its figures and their ratios, printed. */
async function measure(dataset: (typeof datasets)[number]): Promise<void> {
  const { id } = await allocatedInstance(daemon);
  await daemon.gql(PROVISION, { id });
  if ((await settledInstance(daemon, id)).status !== 'RUNNING') throw new Error('the bench tenant did not start');
  const database = tenantDatabaseName(id);
  const role = tenantRoleName(id);

  process.stderr.write(`generating tenant data: ${dataset.label}\n`);
  await withTenant(id, dataset.generate);
  await writeFilestore(cephfs, id);
  const sizes = await databaseBytes(database);
  process.stderr.write(`tenant data: database ${(sizes / 1024 / 1024).toFixed(0)} MB, filestore ${FILESTORE_MB.toFixed(0)} MB\n`);

  const { record, p50, ratio, print } = figures([
    BACKUP,
    BACKUP_ROWS,
    BACKUP_BASELINE,
    RESTORE,
    LOAD,
    RESTORE_BASELINE,
    RESTORE_BASELINE_J2,
    SWAPPED,
    RUNNING,
    EMPTY_JOB,
  ]);

  for (let index = 0; index < runs; index++) {
    record(EMPTY_JOB, await emptyJobMs(index));
    let start = performance.now();
    const backup = await requestedBackup(daemon, id, (row) => row.status === 'COMPLETED' || row.status === 'FAILED');
    if (backup.status !== 'COMPLETED') throw new Error(`backup failed: ${backup.error}`);
    record(BACKUP, performance.now() - start);
    record(BACKUP_ROWS, backup.finished_at!.getTime() - backup.created_at.getTime());

    const dump = join(work, `dump-${index}.custom`);
    const archive = join(work, `filestore-${index}.tar`);
    start = performance.now();
    await dumpOnHost(cephfs, id, role, database, dump, archive);
    record(BACKUP_BASELINE, performance.now() - start);

    start = performance.now();
    const loaded = await loadedInstance(daemon, backup.id);
    record(LOAD, performance.now() - start);
    record(RESTORE, loaded.finished_at!.getTime() - loaded.created_at.getTime());

    const target = join(work, `filestore-${index}`);
    start = performance.now();
    let cleanUp = await restoreOnHost(role, dump, archive, target);
    record(RESTORE_BASELINE, performance.now() - start);
    await cleanUp();
    // The job loads with two connections: the same on the host, for comparison (not the goal's baseline).
    start = performance.now();
    cleanUp = await restoreOnHost(role, dump, archive, target, 2);
    record(RESTORE_BASELINE_J2, performance.now() - start);
    await cleanUp();
    await rm(dump, { force: true });
    await rm(archive, { force: true });
    await daemon.gql('mutation($id: ID!) { terminateInstance(instanceId: $id) { id } }', { id: loaded.instance_id });

    start = performance.now();
    await daemon.gql('mutation($id: ID!, $backupId: ID!) { restoreInstance(instanceId: $id, backupId: $backupId) { id } }', {
      id,
      backupId: backup.id,
    });
    await endedRestore(daemon.deps, 'instance_id', id);
    record(SWAPPED, performance.now() - start);
    await eventually(
      () => daemon.deps.db.selectFrom('instances').select('status').where('id', '=', id).executeTakeFirstOrThrow(),
      (row) => row.status === 'RUNNING',
      300_000,
      50,
    );
    record(RUNNING, performance.now() - start);

    // Only the backups this run measured take room: the final ones of each restore go.
    for (const row of await daemon.deps.db.selectFrom('backups').select(['id', 'instance_id']).where('kind', '=', 'FINAL').execute()) {
      await rm(backupDir(cephfs, row.instance_id, row.id), { recursive: true, force: true });
    }
    process.stderr.write(`${dataset.label}: run ${index + 1}/${runs} done\n`);
  }

  print(
    `backup bench, ${dataset.label}, ${runs} runs (median, min, max); database ${(sizes / 1024 / 1024).toFixed(0)} MB + filestore ${FILESTORE_MB.toFixed(0)} MB`,
  );
  console.log(`ratios, ${dataset.label} (daemon / baseline, median; goal at most 1.2)`);
  console.log(`  backup, ${dataset.label}  ${ratio(BACKUP, p50(BACKUP_BASELINE))}`);
  console.log(`  restore, ${dataset.label}  ${ratio(RESTORE, p50(RESTORE_BASELINE))}`);
  console.log(
    `  restore, ${dataset.label}, vs pg_restore -j 2 as the job loads (not the goal)  ${ratio(RESTORE, p50(RESTORE_BASELINE_J2))}`,
  );
  console.log(
    `  a job doing the baseline's work in its time, (baseline + empty job) / baseline (the job overlaps steps the baseline runs in turn): backup ${((p50(BACKUP_BASELINE) + p50(EMPTY_JOB)) / p50(BACKUP_BASELINE)).toFixed(2)}x, restore ${((p50(RESTORE_BASELINE) + p50(EMPTY_JOB)) / p50(RESTORE_BASELINE)).toFixed(2)}x`,
  );
  console.log(
    `  in place, ${dataset.label}, to data swapped, vs both baselines (it takes a final backup first)  ${ratio(SWAPPED, p50(BACKUP_BASELINE) + p50(RESTORE_BASELINE))}`,
  );
  await daemon.gql('mutation($id: ID!) { terminateInstance(instanceId: $id) { id } }', { id });
}

for (const dataset of datasets) await measure(dataset);
await rm(work, { recursive: true, force: true });
await resetState(daemon.deps);
await daemon.stop();
