import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeJob } from '../../src/domain/backups/backup-jobs.js';
import { spreadOffsetSeconds } from '../../src/jobs/backups.js';
import { exitOfEvent } from '../../src/jobs/docker-wakeups.js';
import { createContainerExits } from '../../src/swarm/container-exits.js';
import { backupJobSpec, exportJobSpec, pgpassLine, restoreJobSpec } from '../../src/swarm/backup-job.js';
import type { SwarmTask } from '../../src/swarm/docker-types.js';
import { labelKeys } from '../../src/swarm/labels.js';

const instanceId = '3f1c2a9e-8b7d-4c6e-9f0a-1b2c3d4e5f60';
const base = {
  instanceId,
  image: 'postgres:16',
  network: 'odoo-net',
  cephfsRoot: '/mnt/cephfs',
  uid: 101,
  extraLabels: { [labelKeys.testRun]: 'unit' },
};
const pool = { host: 'pool-1', port: 5432, user: 'odoo_3f1c_maint', secret: { id: 'sid', name: 'bk-1-pgpass' } };

const backupInput = {
  ...base,
  name: 'bk-1',
  backupId: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
  odooVersion: '17.0',
  snapshot: null,
  db: { name: 'odoo_3f1c', role: 'odoo_3f1c_user' },
  pool,
};
const backup = backupJobSpec(backupInput);
const restore = restoreJobSpec({
  ...base,
  name: 'rs-1',
  source: { instanceId, backupId: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d', dumpSha256: 'a'.repeat(64), filestoreSha256: 'b'.repeat(64) },
  db: { newName: 'odoo_3f1c_new_1234abcd', role: 'odoo_3f1c_user' },
  filestoreNewDir: 'odoo_3f1c.new-1234abcd',
  pool,
});
const exported = exportJobSpec({
  ...base,
  name: 'ex-1',
  backupId: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
  exportId: 'e1',
  dumpSha256: 'c'.repeat(64),
});

const task = (state: SwarmTask['Status']['State'], exitCode?: number): SwarmTask => ({
  ID: `t-${state}`,
  ServiceID: 's',
  CreatedAt: '',
  UpdatedAt: '',
  DesiredState: 'complete',
  Status: { Timestamp: '', State: state, Message: state, ...(exitCode === undefined ? {} : { ContainerStatus: { ExitCode: exitCode } }) },
});

describe('backup, restore and export jobs', () => {
  it('are one-shot Swarm jobs labelled apart from the tenant server', () => {
    for (const [spec, role] of [
      [backup, 'backup'],
      [restore, 'restore'],
      [exported, 'backup'],
    ] as const) {
      assert.deepEqual(spec.Mode, { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } });
      assert.equal(spec.Labels[labelKeys.role], role);
      assert.equal(spec.Labels[labelKeys.instanceId], instanceId);
      assert.equal(spec.TaskTemplate.ContainerSpec.Labels?.[labelKeys.role], role);
      assert.equal(spec.TaskTemplate.RestartPolicy?.Condition, 'none');
    }
  });

  it("reach the pool as the tenant's maintenance login, with a pgpass secret file: no password in the environment or the command", () => {
    for (const spec of [backup, restore]) {
      const container = spec.TaskTemplate.ContainerSpec;
      assert.ok(container.Env?.includes('PGPASSFILE=/run/secrets/pgpass'));
      assert.ok(container.Env?.includes('PGUSER=odoo_3f1c_maint'));
      assert.ok(!container.Env?.some((entry) => /PASSWORD=/i.test(entry)));
      assert.deepEqual(container.Secrets?.[0], {
        SecretID: 'sid',
        SecretName: 'bk-1-pgpass',
        File: { Name: 'pgpass', UID: '101', GID: '101', Mode: 0o400 },
      });
    }
    assert.equal(exported.TaskTemplate.ContainerSpec.Secrets, undefined, 'the export needs no database server');
  });

  it("run as the tenant's uid with no capabilities, never in the host's network namespace", () => {
    for (const spec of [backup, restore, exported]) {
      assert.equal(spec.TaskTemplate.ContainerSpec.User, '101:101');
      assert.deepEqual(spec.TaskTemplate.ContainerSpec.CapabilityDrop, ['ALL']);
      assert.ok(!spec.TaskTemplate.Networks?.some((network) => network.Target === 'host'));
    }
  });

  it('pass names through the environment, never spliced into the script', () => {
    assert.ok(!backup.TaskTemplate.ContainerSpec.Command?.join(' ').includes('odoo_3f1c'));
    assert.ok(backup.TaskTemplate.ContainerSpec.Env?.includes('DB_NAME=odoo_3f1c'));
    assert.ok(!restore.TaskTemplate.ContainerSpec.Command?.join(' ').includes('1234abcd'));
  });

  it('mount the data dir read-only for a backup (writable where it takes a CephFS snapshot), the backup read-only for a restore', () => {
    assert.deepEqual(backup.TaskTemplate.ContainerSpec.Mounts, [
      { Type: 'bind', Source: `/mnt/cephfs/backups/${instanceId}`, Target: '/backups' },
      { Type: 'bind', Source: `/mnt/cephfs/odoo_instances/${instanceId}`, Target: '/data', ReadOnly: true },
    ]);
    const atSnapshot = backupJobSpec({ ...backupInput, snapshot: 'backup-1' }).TaskTemplate.ContainerSpec;
    assert.equal(atSnapshot.Mounts?.[1]?.ReadOnly, false);
    assert.ok(atSnapshot.Env?.includes('SNAPSHOT=backup-1'));
    assert.ok(!backup.TaskTemplate.ContainerSpec.Env?.some((entry) => entry.startsWith('SNAPSHOT=')));
    assert.deepEqual(restore.TaskTemplate.ContainerSpec.Mounts, [
      { Type: 'bind', Source: `/mnt/cephfs/backups/${instanceId}/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d`, Target: '/backup', ReadOnly: true },
      { Type: 'bind', Source: `/mnt/cephfs/odoo_instances/${instanceId}`, Target: '/data' },
    ]);
  });

  it('escape pgpass fields as libpq reads them', () => {
    assert.equal(pgpassLine('postgres', 'a:b\\c'), '*:*:*:postgres:a\\:b\\\\c\n');
  });

  it('are judged done, failed (with the exit code) or pending from their tasks', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const later = new Date('2026-01-02T00:00:00Z');
    assert.deepEqual(judgeJob([task('complete')], later, now), { kind: 'done' });
    const failed = judgeJob([task('failed', 1)], later, now);
    assert.equal(failed.kind, 'failed');
    assert.match(failed.kind === 'failed' ? failed.reason : '', /exit code 1/);
    assert.deepEqual(judgeJob([task('running')], later, now), { kind: 'pending' });
    assert.equal(judgeJob([task('running')], now, now).kind, 'failed', 'past its deadline');
  });

  it('are done once their container exited with 0, before Swarm records the end of the task', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const later = new Date('2026-01-02T00:00:00Z');
    assert.deepEqual(judgeJob([{ ...task('running'), containerExitedCleanly: true }], later, now), { kind: 'done' });
    assert.equal(judgeJob([{ ...task('failed', 1), containerExitedCleanly: true }], later, now).kind, 'failed', "Swarm's own end stands");
  });

  it("join the overlay network only to reach a pool by name; otherwise Docker's default bridge", () => {
    assert.deepEqual(backup.TaskTemplate.Networks, [{ Target: 'odoo-net' }]);
    const byAddress = backupJobSpec({
      ...base,
      network: null,
      name: 'bk-2',
      backupId: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
      odooVersion: '17.0',
      snapshot: null,
      db: { name: 'odoo_3f1c', role: 'odoo_3f1c_user' },
      pool: { ...pool, host: '10.0.0.5' },
    });
    assert.equal(byAddress.TaskTemplate.Networks, undefined);
  });

  it('spread scheduled backups: each instance at an offset of its own, the same every time, within the window', () => {
    const offsets = Array.from({ length: 50 }, (_, index) =>
      spreadOffsetSeconds(`3f1c2a9e-8b7d-4c6e-9f0a-${String(index).padStart(12, '0')}`, 3600),
    );
    assert.ok(offsets.every((offset) => offset >= 0 && offset < 3600));
    assert.ok(new Set(offsets).size > 40, 'not all at once');
    assert.equal(spreadOffsetSeconds(instanceId, 3600), spreadOffsetSeconds(instanceId, 3600));
    assert.equal(spreadOffsetSeconds(instanceId, 0), 0);
  });
});

describe("a job container's exit, from Docker's events", () => {
  it("is read from a die event's attributes; other events and lines give nothing", () => {
    const die = (exitCode: string) =>
      JSON.stringify({ Type: 'container', Action: 'die', Actor: { ID: 'c1', Attributes: { exitCode, name: 'rs-1.1.x' } } });
    assert.deepEqual(exitOfEvent(die('0')), { containerId: 'c1', exitCode: 0 });
    assert.deepEqual(exitOfEvent(die('2')), { containerId: 'c1', exitCode: 2 });
    assert.equal(exitOfEvent(JSON.stringify({ Type: 'container', Action: 'start', Actor: { ID: 'c1', Attributes: {} } })), null);
    assert.equal(exitOfEvent(JSON.stringify({ Type: 'container', Action: 'die', Actor: { ID: 'c1', Attributes: {} } })), null);
    assert.equal(exitOfEvent('{"Action":"di'), null);
  });

  it('is kept for the newest containers only', () => {
    const exits = createContainerExits(2);
    exits.record('a', 0);
    exits.record('b', 1);
    exits.record('c', 0);
    assert.equal(exits.exitCode('a'), undefined, 'the oldest went');
    assert.equal(exits.exitCode('b'), 1);
    assert.equal(exits.exitCode('c'), 0);
  });
});
