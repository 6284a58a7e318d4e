import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJobName, exportLeftovers, removeEndedJobs, removeOrphanJobContainers } from '../src/domain/backups/backup-jobs.js';
import { applyRetention } from '../src/domain/backups/backup-retention.js';
import { backupInstance } from '../src/domain/backups/backups.js';
import { scheduleBackups } from '../src/jobs/backups.js';
import { backupDir, exportJobSpec, exportsDir } from '../src/swarm/backup-job.js';
import { roleLabels } from '../src/swarm/labels.js';
import { createService, ensureSecret, findServiceByName } from '../src/swarm/swarm.js';
import {
  customerToken,
  defaultCustomerId,
  eventually,
  instanceInput,
  registerLocalPool,
  resetState,
  startTestDaemon,
  type TestDaemon,
} from './support/harness.js';
import { PROVISION, allocatedInstance, settledInstance } from './support/odoo.js';

const BACKUP_FIELDS = 'id instanceId kind status sizeBytes error';
const BACKUP_INSTANCE = `mutation($id: ID!) { backupInstance(instanceId: $id) { ${BACKUP_FIELDS} } }`;
const BACKUP = `query($id: ID!) { backup(id: $id) { ${BACKUP_FIELDS} } }`;
const DAY = 24 * 3600 * 1000;

const ended = (daemon: TestDaemon, id: string) =>
  eventually(
    async () => (await daemon.gql(BACKUP, { id })).data.backup,
    (backup) => ['COMPLETED', 'FAILED'].includes(backup.status),
    120_000,
    250,
  );

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe('backups: one at a time, on schedule, across restarts, kept as promised', () => {
  let daemon: TestDaemon;
  /** A job as a daemon stopped in the middle leaves it (it sleeps instead of exporting). */
  const leaveJob = async (name: string, instanceId: string, exportId: string) => {
    const spec = exportJobSpec({
      name,
      instanceId,
      backupId: randomUUID(),
      exportId,
      dumpSha256: '0'.repeat(64),
      image: daemon.deps.config.postgresPoolImage,
      network: null,
      cephfsRoot: daemon.deps.config.cephfsRoot,
      uid: daemon.deps.config.odooUid,
      extraLabels: daemon.deps.config.dockerLabels,
    });
    spec.TaskTemplate.ContainerSpec.Command = ['sleep', '60'];
    return { id: await createService(daemon.deps.docker, spec) };
  };
  before(async () => {
    daemon = await startTestDaemon({ BACKUP_SPREAD_SECONDS: '0' });
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 10);
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('runs one backup per instance at a time, and lets a customer ask for one manual backup an hour', async () => {
    const { id } = await allocatedInstance(daemon);
    const [first, second] = await Promise.all([daemon.gql(BACKUP_INSTANCE, { id }), daemon.gql(BACKUP_INSTANCE, { id })]);
    assert.equal(first.data.backupInstance.id, second.data.backupInstance.id, 'asking twice at once gives the one under way');
    assert.equal((await ended(daemon, first.data.backupInstance.id)).status, 'COMPLETED');

    const token = await customerToken(instanceInput().customerId);
    const mine = await daemon.gql(BACKUP_INSTANCE, { id }, { token });
    assert.equal(mine.errors, undefined, JSON.stringify(mine.errors));
    assert.equal((await ended(daemon, mine.data.backupInstance.id)).status, 'COMPLETED');
    const again = await daemon.gql(BACKUP_INSTANCE, { id }, { token });
    assert.equal(again.errors?.[0]?.extensions?.code, 'CONFLICT');
    assert.match(again.errors[0].message, /one manual backup an hour/i);
    const stranger = await daemon.gql(BACKUP_INSTANCE, { id }, { token: await customerToken('0b5f0e3a-9a43-4c54-8f7e-3f1e4f5a6b7c') });
    // Another customer learns nothing, not even that the instance exists.
    assert.equal(stranger.errors?.[0]?.extensions?.code, 'NOT_FOUND');
    assert.equal((await daemon.gql(BACKUP_INSTANCE, { id }, { token: null })).errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
  });

  it('finishes a backup from its row when the daemon that started it stopped', async () => {
    const { id } = await allocatedInstance(daemon);
    await daemon.stop();
    const first = await startTestDaemon({ BACKUP_SPREAD_SECONDS: '0' });
    const requested = await first.gql(BACKUP_INSTANCE, { id });
    assert.equal(requested.data.backupInstance.status, 'RUNNING');
    await first.stop();
    daemon = await startTestDaemon({ BACKUP_SPREAD_SECONDS: '0' });
    assert.equal((await ended(daemon, requested.data.backupInstance.id)).status, 'COMPLETED');
  });

  it('removes the job and secret a stopped daemon left after recording the end of a backup, not those still running', async () => {
    const { id: endedFor } = await allocatedInstance(daemon);
    const { id: runningFor } = await allocatedInstance(daemon);
    const ended = await daemon.deps.db
      .insertInto('backups')
      .values({ instance_id: endedFor, kind: 'MANUAL', status: 'COMPLETED', actor: 'test' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const leave = async (instanceId: string, backupId: string) => {
      const name = `bk-${backupId}`;
      const labels = roleLabels(instanceId, 'backup', daemon.deps.config.dockerLabels);
      await ensureSecret(daemon.deps.docker, `${name}-pgpass`, 'x', labels);
      await leaveJob(name, instanceId, 'left');
      return name;
    };
    const endedJob = await leave(endedFor, ended.id);
    // Its job first: the daemon fails a running backup whose job is gone.
    const running = { id: randomUUID() };
    const runningJob = await leave(runningFor, running.id);
    await daemon.deps.db
      .insertInto('backups')
      .values({ id: running.id, instance_id: runningFor, kind: 'MANUAL', status: 'RUNNING', actor: 'test', started_at: new Date() })
      .execute();

    await removeEndedJobs(daemon.deps);
    assert.equal(await findServiceByName(daemon.deps.docker, endedJob), undefined, 'the ended backup’s job is removed');
    const secrets = await daemon.deps.docker.listSecrets({ filters: { name: [endedJob] } });
    assert.deepEqual(secrets, [], 'with its secret');
    assert.ok(await findServiceByName(daemon.deps.docker, runningJob), 'the running backup’s job is kept');
    await daemon.deps.db.updateTable('backups').set({ status: 'FAILED', error: 'test' }).where('id', '=', running.id).execute();
    await removeEndedJobs(daemon.deps);
    assert.equal(await findServiceByName(daemon.deps.docker, runningJob), undefined);
  });

  it('removes the container a job left when its service went as Swarm was creating it', async () => {
    const { id: instanceId } = await allocatedInstance(daemon);
    const left = (service: string) => ({
      Image: daemon.deps.config.postgresPoolImage,
      Cmd: ['true'],
      Labels: { ...roleLabels(instanceId, 'restore', daemon.deps.config.dockerLabels), 'com.docker.swarm.service.id': service },
    });
    const orphan = await daemon.deps.docker.createContainer(left(`gone-${randomUUID()}`));
    const { id: jobId } = await leaveJob(exportJobName(randomUUID()), instanceId, 'kept');
    const owned = await daemon.deps.docker.createContainer(left(jobId));
    await removeOrphanJobContainers(daemon.deps);
    const present = async (id: string) => (await daemon.deps.docker.listContainers({ all: true, filters: { id: [id] } })).length === 1;
    assert.equal(await present(orphan.id), false, 'the container of a job that is gone is removed');
    assert.equal(await present(owned.id), true, 'one whose job is still there is the job’s');
    await owned.remove({ force: true });
  });

  it('refuses a manual backup the storage has no room for, and a customer’s manual backups and restores beyond 24 a day', async () => {
    const { id } = await allocatedInstance(daemon);
    const crowded = {
      ...daemon.deps,
      config: { ...daemon.deps.config, backups: { ...daemon.deps.config.backups, minFreeMb: 100 * 1024 * 1024 } },
    };
    await assert.rejects(backupInstance(crowded, id, { cause: 'backupInstance', actor: 'admin' }), /MiB free, less than the 104857600 MiB/);

    const { id: other } = await allocatedInstance(daemon);
    const actor = `customer:${defaultCustomerId}`;
    const earlier = new Date(Date.now() - 2 * 3600_000);
    await daemon.deps.db
      .insertInto('backups')
      .values(
        Array.from({ length: 24 }, () => ({
          instance_id: other,
          kind: 'MANUAL' as const,
          status: 'COMPLETED' as const,
          actor,
          created_at: earlier,
        })),
      )
      .execute();
    const refused = await daemon.gql(BACKUP_INSTANCE, { id }, { token: await customerToken(defaultCustomerId) });
    assert.equal(refused.errors?.[0]?.extensions?.code, 'CONFLICT');
    assert.match(refused.errors[0].message, /At most 24 manual backups, restores and module changes a day/);
  });

  it('sweeps the export job and SQL file a download left when the daemon stopped, once no download can still read them', async () => {
    const { id: instanceId } = await allocatedInstance(daemon);
    const exportId = randomUUID();
    await leaveJob(exportJobName(exportId), instanceId, exportId);
    const files = exportLeftovers(daemon.deps.config.cephfsRoot, instanceId, exportId);
    await mkdir(exportsDir(daemon.deps.config.cephfsRoot, instanceId), { recursive: true });
    for (const file of files) await writeFile(file, 'select 1;');
    const present = () => Promise.all(files.map(exists));

    await removeEndedJobs(daemon.deps);
    assert.ok(await findServiceByName(daemon.deps.docker, exportJobName(exportId)), 'a download may still be reading it');
    assert.deepEqual(await present(), [true, true]);
    await removeEndedJobs(daemon.deps, new Date(Date.now() + 2 * 3600_000));
    assert.equal(await findServiceByName(daemon.deps.docker, exportJobName(exportId)), undefined, 'the job is swept');
    assert.deepEqual(await present(), [false, false], 'with what it wrote');
  });

  it('backs up every RUNNING instance at BACKUP_CRON, each at its own offset, and not the others', async () => {
    const { id: allocated } = await allocatedInstance(daemon);
    const { id: running } = await allocatedInstance(daemon);
    await daemon.gql(PROVISION, { id: running });
    assert.equal((await settledInstance(daemon, running)).status, 'RUNNING');

    const now = new Date();
    const spread = { ...daemon.deps, config: { ...daemon.deps.config, backups: { ...daemon.deps.config.backups, spreadSeconds: 3600 } } };
    assert.equal(await scheduleBackups(spread, new Date(now.getTime() - 3600_000)), 1);
    const waiting = await daemon.deps.db
      .selectFrom('backups')
      .selectAll()
      .where('instance_id', '=', running)
      .where('kind', '=', 'SCHEDULED')
      .executeTakeFirstOrThrow();
    assert.ok(
      waiting.not_before.getTime() >= now.getTime() - 3600_000 && waiting.not_before.getTime() < now.getTime(),
      'due within the spread window',
    );
    assert.equal(await scheduleBackups(spread, now), 0, 'one already waits: none added');

    assert.equal((await ended(daemon, waiting.id)).status, 'COMPLETED', 'the leader starts it once due');
    const scheduledForAllocated = await daemon.deps.db
      .selectFrom('backups')
      .select('id')
      .where('instance_id', '=', allocated)
      .where('kind', '=', 'SCHEDULED')
      .execute();
    assert.deepEqual(scheduledForAllocated, [], 'an instance that never ran has nothing to back up on schedule');
  });

  it('prunes expired backups, files and rows together, with dates injected', async () => {
    const now = new Date('2026-06-30T12:00:00Z');
    const live = await daemon.deps.db
      .insertInto('instances')
      .values({ ...row(), subdomain: 'retention-live', status: 'RUNNING' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const gone = await daemon.deps.db
      .insertInto('instances')
      .values({ ...row(), subdomain: 'retention-gone', status: 'TERMINATED', status_changed_at: new Date(now.getTime() - 31 * DAY) })
      .returning('id')
      .executeTakeFirstOrThrow();
    const recent = await daemon.deps.db
      .insertInto('instances')
      .values({ ...row(), subdomain: 'retention-recent', status: 'TERMINATED', status_changed_at: new Date(now.getTime() - 10 * DAY) })
      .returning('id')
      .executeTakeFirstOrThrow();

    const made = new Map<string, { instance: string; id: string }>();
    for (const [instance, days] of [
      [live.id, 40],
      [gone.id, 3],
      [recent.id, 3],
    ] as const) {
      for (let day = 0; day < days; day++) {
        const created_at = new Date(Date.UTC(2026, 5, 30, 2) - day * DAY);
        const backup = await daemon.deps.db
          .insertInto('backups')
          .values({
            instance_id: instance,
            kind: 'SCHEDULED',
            status: 'COMPLETED',
            actor: 'scheduler',
            size_bytes: 1,
            created_at,
            not_before: created_at,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        const dir = backupDir(daemon.deps.config.cephfsRoot, instance, backup.id);
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'manifest.json'), '{}');
        made.set(`${instance}:${created_at.toISOString().slice(0, 10)}`, { instance, id: backup.id });
      }
    }

    await applyRetention(daemon.deps, now);
    const left = new Set((await daemon.deps.db.selectFrom('backups').select('id').execute()).map((backup) => backup.id));
    const keptDays = [...made].filter(([, backup]) => backup.instance === live.id && left.has(backup.id)).map(([key]) => key.split(':')[1]);
    assert.deepEqual(keptDays, [
      '2026-06-30',
      '2026-06-29',
      '2026-06-28',
      '2026-06-27',
      '2026-06-26',
      '2026-06-25',
      '2026-06-24',
      '2026-06-21',
      '2026-06-14',
      '2026-05-31',
    ]);
    for (const [, backup] of made) {
      const dir = backupDir(daemon.deps.config.cephfsRoot, backup.instance, backup.id);
      assert.equal(await exists(dir), left.has(backup.id), `files and row go together (${backup.id})`);
    }
    assert.equal(
      [...made.values()].filter((backup) => backup.instance === gone.id && left.has(backup.id)).length,
      0,
      '31 days after termination: none kept',
    );
    assert.equal(
      [...made.values()].filter((backup) => backup.instance === recent.id && left.has(backup.id)).length,
      3,
      '10 days after termination: all kept',
    );
  });
});

function row() {
  const input = instanceInput();
  return {
    customer_id: input.customerId,
    name: input.name,
    odoo_version: '17.0',
    admin_email: input.adminEmail,
    cpu_limit: 1,
    memory_limit_mb: 512,
  };
}
