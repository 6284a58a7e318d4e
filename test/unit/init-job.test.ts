import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { odooPasswordHash } from '../../src/crypto/odoo-password.js';
import { judgeInitJob } from '../../src/domain/instances/tenant-init.js';
import { isReservedSubdomain } from '../../src/domain/instances/reserved-names.js';
import type { SwarmTask, TaskState } from '../../src/swarm/docker-types.js';
import { labelKeys } from '../../src/swarm/labels.js';
import { odooSpec } from '../../src/swarm/odoo-config.js';
import { odooTemplateJobSpec } from '../../src/swarm/odoo-template-job.js';

const task = (state: TaskState, at: string, extra: Partial<SwarmTask['Status']> = {}): SwarmTask => ({
  ID: `task-${at}`,
  ServiceID: 'job',
  CreatedAt: at,
  UpdatedAt: at,
  DesiredState: 'complete',
  Status: { Timestamp: at, State: state, Message: state, ...extra },
});

const now = new Date('2026-01-01T00:10:00Z');
const policy = { maxFailedTasks: 2, deadline: new Date('2026-01-01T00:20:00Z') };

describe('judging the init job from its tasks', () => {
  it('is initialised once a task completed, even after a failed try', () => {
    const tasks = [task('failed', '2026-01-01T00:01:00Z', { Err: 'task: non-zero exit (1)' }), task('complete', '2026-01-01T00:02:00Z')];
    assert.deepEqual(judgeInitJob(tasks, policy, now), { kind: 'initialised' });
  });

  it('is pending while Odoo initialises (running is not done: the job must exit 0)', () => {
    assert.deepEqual(judgeInitJob([task('running', '2026-01-01T00:02:00Z')], policy, now), { kind: 'pending' });
    assert.deepEqual(judgeInitJob([], policy, now), { kind: 'pending' });
  });

  it('fails once Swarm used up its retries, naming the last failure', () => {
    const tasks = [
      task('failed', '2026-01-01T00:01:00Z', { Err: 'first' }),
      task('failed', '2026-01-01T00:03:00Z', { Err: 'task: non-zero exit (1)', ContainerStatus: { ExitCode: 1 } }),
    ];
    assert.deepEqual(judgeInitJob(tasks, policy, now), {
      kind: 'failed',
      reason: 'Odoo initialisation failed 2 times; last: task: non-zero exit (1), exit code 1',
      taskId: 'task-2026-01-01T00:03:00Z',
    });
  });

  it('fails at the deadline when the job is still running', () => {
    const late = new Date('2026-01-01T00:21:00Z');
    const verdict = judgeInitJob([task('running', '2026-01-01T00:02:00Z')], policy, late);
    assert.equal(verdict.kind, 'failed');
    assert.match(verdict.kind === 'failed' ? verdict.reason : '', /did not finish before the deadline \(still running\)/);
  });
});

describe("Odoo's password hash", () => {
  it('has passlib pbkdf2-sha512 format with 600000 rounds by default, a fresh salt each time', async () => {
    const [a, b] = [await odooPasswordHash('secret'), await odooPasswordHash('secret')];
    assert.match(a, /^\$pbkdf2-sha512\$600000\$[./A-Za-z0-9]{22}\$[./A-Za-z0-9]{86}$/);
    assert.notEqual(a, b);
  });

  it('is exactly what passlib computes for the same salt and rounds (python3-passlib, as Odoo uses it)', async () => {
    const salt = Buffer.from('0123456789abcdef');
    const script =
      'from passlib.hash import pbkdf2_sha512\nprint(pbkdf2_sha512.using(rounds=1000, salt=b"0123456789abcdef").hash("pässword"))';
    const passlib = spawnSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8' });
    assert.equal(passlib.status, 0, passlib.stderr);
    assert.equal(await odooPasswordHash('pässword', 1000, salt), passlib.stdout.trim());
  });
});

describe('reserved subdomains', () => {
  const config = {
    tenants: {
      tlsMode: 'per-host' as const,
      tlsCertResolver: 'le',
      orchestratorDomain: 'ops.example.com',
      reservedSubdomains: ['ops', 'shop'],
      odooExtraEnv: [],
    },
  };
  it("refuses the platform's names and the configured ones, not others", () => {
    for (const name of ['orchestrator', 'killbill', 'traefik', 'grafana', 'prometheus', 'api', 'www', 'admin', 'mail', 'ops', 'shop']) {
      assert.equal(isReservedSubdomain(config, name), true, name);
    }
    assert.equal(isReservedSubdomain(config, 'acme'), false);
  });
});

describe("a template's build job", () => {
  const spec = odooSpec({ version: '17.0', image: 'odoo:17.0', cpuLimit: 1, memoryLimitMb: 1024, env: [] });
  const job = odooTemplateJobSpec({
    templateId: 'c0ffee00-0000-4000-8000-000000000001',
    serviceName: 'odoo-tpl-c0ffee00000040008000000000000001',
    spec,
    modules: ['base', 'contacts'],
    network: 'odoo-net',
    dataDir: '/mnt/cephfs-tenants/odoo_templates/c0ffee00-0000-4000-8000-000000000001',
    configSecret: { id: 'secret-id', name: 'odoo-tpl-config-c0ffee00000040008000000000000001' },
    restartMaxAttempts: 3,
    restartDelaySeconds: 5,
    odooUid: 101,
  });
  const container = job.TaskTemplate.ContainerSpec;

  it("is a one-shot job installing the template's modules into the data dir of the template, labelled as no instance's", () => {
    assert.deepEqual(job.Mode, { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } });
    assert.ok(
      (container.Args ?? []).join(' ').includes('-i base,contacts --without-demo all --stop-after-init'),
      container.Args?.join(' '),
    );
    assert.deepEqual(container.Mounts, [
      { Type: 'bind', Source: '/mnt/cephfs-tenants/odoo_templates/c0ffee00-0000-4000-8000-000000000001', Target: '/var/lib/odoo' },
    ]);
    for (const labels of [job.Labels, container.Labels!]) {
      assert.equal(labels[labelKeys.role], 'template');
      assert.equal(labels[labelKeys.templateId], 'c0ffee00-0000-4000-8000-000000000001');
      assert.equal(labels[labelKeys.instanceId], undefined);
    }
  });
});
