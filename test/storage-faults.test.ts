/**
 * Kills Ceph's daemons under a running daemon process: the tenants' ceph-fuse, the daemon's own (and unmounts it), the
 * MDS, the OSD. Each is brought back the way an operator (or `npm test`'s bring-up) would: scripts/env/ceph.sh. Other
 * suites share the cluster, so in `npm test` this one waits until it runs alone (holdExclusive), and across checkouts
 * it runs only under `flock -x /tmp/orchestrator-machine.lock`. Skipped with CEPHFS_MODE=plain.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { closeDeps } from '../src/daemon.js';
import type { Deps } from '../src/deps.js';
import { projectRoot } from '../src/project-root.js';
import { assertStillUp, daemonHttp, localDeps, startDaemonProcess, type DaemonProcess } from './support/daemon-process.js';
import { CREATE_INSTANCE, eventually, instanceInput, localPool, REGISTER_POOL, resetState, runLabels } from './support/harness.js';
import { holdExclusive } from './support/isolation.js';
import { execIn, runningContainer } from './support/storage.js';

const run = promisify(execFile);
const cephState = process.env.CEPH_STATE_DIR ?? '/var/lib/odoo-orchestrator/ceph';
const daemonMount = process.env.CEPH_MOUNT ?? '/mnt/cephfs';
const dockerLabels = Object.entries(runLabels)
  .map(([key, value]) => `${key}=${value}`)
  .join(',');

/** SIGKILL to one of the cluster's daemons, by the pid file it wrote. */
const kill = (name: string) => process.kill(Number(readFileSync(join(cephState, 'run', `ceph-${name}.pid`), 'utf8')), 'SIGKILL');

const timed = async <T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> => {
  const started = Date.now();
  const value = await work();
  return { value, ms: Date.now() - started };
};

/** What an operator runs to bring storage back. */
const cephUp = () => timed(() => run('bash', [join(projectRoot, 'scripts/env/ceph.sh')], { timeout: 300_000 }));

const INSTANCE = 'query($id: ID!) { instance(id: $id) { id status error events(first: 1000) { nodes { to cause message } } } }';
const BACKUP = 'mutation($id: ID!) { backupInstance(instanceId: $id) { id status } }';
const BACKUP_STATUS = 'query($id: ID!) { backup(id: $id) { status error } }';

describe('Ceph daemons killed under a running daemon', { skip: process.env.CEPHFS_MODE === 'plain' && 'CEPHFS_MODE=plain' }, () => {
  let daemon: DaemonProcess;
  let local: Deps;
  let id: string;

  const { gql, readyz } = daemonHttp(() => daemon);
  const instance = async () => (await gql(INSTANCE, { id })).data.instance as { status: string; error: string | null; events: any };
  /** The time until /readyz says `wanted` of storage. */
  const readyzUntil = (wanted: (ready: Awaited<ReturnType<typeof readyz>>) => boolean) =>
    timed(() => eventually(readyz, wanted, 30_000, 100));
  /** A call that needs storage, while it is away: it fails at once, naming storage. */
  const assertStorageCallFailsFast = async () => {
    const refused = await timed(() => gql(BACKUP, { id }));
    assert.equal(refused.value.errors?.[0]?.extensions?.code, 'SERVICE_UNAVAILABLE', JSON.stringify(refused.value));
    assert.match(refused.value.errors[0].message, /storage is unavailable/);
    return refused.ms;
  };

  before(async () => {
    local = await localDeps(dockerLabels);
    daemon = await startDaemonProcess({
      DOCKER_LABELS: dockerLabels,
      STORAGE_CHECK_SECONDS: '1',
      STORAGE_CHECK_TIMEOUT_MS: '1500',
    });
    const registered = await gql(REGISTER_POOL, { input: { name: 'pool-storage-faults', maxInstances: 10, ...localPool } });
    assert.equal(registered.errors, undefined, JSON.stringify(registered.errors));
    const created = await gql(CREATE_INSTANCE, { input: instanceInput({ memoryLimit: '512M', cpuLimit: 0.5 }) });
    id = created.data.createInstance.id;
    await gql('mutation($id: ID!) { provisionInstance(instanceId: $id) { id } }', { id });
    assert.equal((await eventually(instance, (found) => found.status !== 'PROVISIONING', 120_000, 250)).status, 'RUNNING');
    // No fault starts before the cluster is this suite's alone.
    await holdExclusive();
  });
  after(async () => {
    // Whatever a test left down comes back before anything else runs.
    await cephUp();
    await daemon?.stop();
    await resetState(local).catch(() => undefined);
    await closeDeps(local);
  });

  it("the tenants' ceph-fuse dies: /readyz names storage, the tenant reads DEGRADED with the reason, and is restarted on the new mount", async () => {
    kill('client.tenants');
    const down = await readyzUntil((ready) => ready.status === 503 && /not connected/.test(ready.body.storage ?? ''));
    assert.match(down.value.body.storage!, /Transport endpoint is not connected/);
    const degraded = await eventually(instance, (found) => found.status === 'DEGRADED', 30_000, 250);
    assert.equal(degraded.status, 'DEGRADED');
    assert.match(degraded.error ?? '', /CephFS mount is dead \(Transport endpoint is not connected/);
    await assertStillUp(daemon);

    const back = await cephUp();
    const ready = await readyzUntil((found) => found.status === 200);
    const running = await timed(() => eventually(instance, (found) => found.status === 'RUNNING', 60_000, 250));
    assert.equal(running.value.status, 'RUNNING');
    assert.ok(
      running.value.events.nodes.some(
        (event: { to: string; cause: string }) => event.to === 'RESTARTING' && event.cause === 'storage-recovered',
      ),
      `restarted by the daemon once storage was back: ${JSON.stringify(running.value.events.nodes.slice(-6))} ${JSON.stringify(
        daemon.lines.filter((line) => String(line.event).startsWith('storage.') || String(line.event).startsWith('instance.')).slice(-12),
      )}`,
    );
    const { service_id: serviceId } = await local.db
      .selectFrom('instances')
      .select('service_id')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    const reads = await execIn(local.docker, await runningContainer(local.docker, serviceId!), ['ls', '/var/lib/odoo/filestore']);
    assert.equal(reads.code, 0, `the new container reads its files: ${reads.output}`);
    console.log(
      `tenants' ceph-fuse killed: /readyz said so after ${down.ms} ms; ceph.sh mounted again in ${back.ms} ms; ready ${ready.ms} ms later; ` +
        `the tenant RUNNING again ${ready.ms + running.ms} ms after ceph.sh`,
    );
  });

  it("the daemon's ceph-fuse dies and its mount is gone: storage calls fail fast, nothing is written to the local disk", async () => {
    kill('client.orchestrator');
    await run('umount', ['-l', '-c', daemonMount]);
    const down = await readyzUntil((ready) => ready.status === 503 && /not on CephFS/.test(ready.body.storage ?? ''));
    const refusedMs = await assertStorageCallFailsFast();
    const another = await gql(CREATE_INSTANCE, { input: instanceInput({ memoryLimit: '512M', cpuLimit: 0.5 }) });
    const provisioned = await gql('mutation($id: ID!) { provisionInstance(instanceId: $id) { id } }', {
      id: another.data.createInstance.id,
    });
    assert.equal(provisioned.errors?.[0]?.extensions?.code, 'SERVICE_UNAVAILABLE', JSON.stringify(provisioned));
    assert.deepEqual(readdirSync(daemonMount), [], 'no directory was made on the local disk under the missing mount');
    await assertStillUp(daemon);

    const back = await cephUp();
    await readyzUntil((ready) => ready.status === 200);
    const backup = await gql(BACKUP, { id });
    assert.equal(backup.errors, undefined, JSON.stringify(backup.errors));
    const done = await eventually(
      async () => (await gql(BACKUP_STATUS, { id: backup.data.backupInstance.id })).data.backup,
      (found) => found.status === 'COMPLETED' || found.status === 'FAILED',
      60_000,
      250,
    );
    assert.equal(done.status, 'COMPLETED', done.error);
    console.log(
      `daemon's ceph-fuse killed and unmounted: /readyz said so after ${down.ms} ms; a backup refused in ${refusedMs} ms; ceph.sh ${back.ms} ms`,
    );
  });

  for (const [daemonName, what] of [
    ['mds.a', 'the MDS'],
    ['osd.0', 'the OSD'],
  ] as const) {
    it(`${what} dies: /readyz names storage, the API answers, storage calls fail fast; the tenant runs on once it is back`, async () => {
      const restartsBefore = (await instance()).events.nodes.filter((event: { to: string }) => event.to === 'RESTARTING').length;
      kill(daemonName);
      const down = await readyzUntil((ready) => ready.status === 503 && /no answer/.test(ready.body.storage ?? ''));
      const listed = await timed(() => gql('{ instances(first: 5) { totalCount } }'));
      assert.equal(listed.value.errors, undefined, 'what needs no storage answers');
      const refusedMs = await assertStorageCallFailsFast();
      await assertStillUp(daemon);

      const back = await cephUp();
      const ready = await readyzUntil((found) => found.status === 200);
      const after = await instance();
      assert.equal(after.status, 'RUNNING', `${after.error} ${JSON.stringify(after.events.nodes.slice(-4))}`);
      assert.equal(
        after.events.nodes.filter((event: { to: string }) => event.to === 'RESTARTING').length,
        restartsBefore,
        'its mount lived on: no restart',
      );
      console.log(
        `${what} killed: /readyz said so after ${down.ms} ms (${down.value.body.storage}); a query answered in ${listed.ms} ms, ` +
          `a backup refused in ${refusedMs} ms; ceph.sh ${back.ms} ms; ready ${ready.ms} ms later`,
      );
    });
  }
});
