import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labelKeys } from '../../src/swarm/labels.js';
import {
  poolDataDir,
  poolServerSettings,
  postgresPoolServiceSpec,
  type PostgresPoolServiceInput,
} from '../../src/swarm/postgres-service.js';

const poolId = '7d0b6f3e-2c1a-4e5f-8a9b-0c1d2e3f4a5b';

const input: PostgresPoolServiceInput = {
  pool: { id: poolId, name: 'postgres-pool-1', maxInstances: 50, cpuLimit: 2, memoryLimitMb: 4096 },
  serviceName: 'postgres-pool-1',
  image: 'postgres:16',
  network: 'odoo-net',
  cephfsRoot: '/mnt/cephfs',
  adminUser: 'pool_admin',
  secret: { id: 'secret-id-1', name: 'postgres-pool-1-password' },
  publishedPort: null,
  placementConstraints: [],
  postgresUid: 999,
  extraLabels: { [labelKeys.testRun]: 'unit' },
};

const spec = postgresPoolServiceSpec(input);
const task = spec.TaskTemplate;
const container = task.ContainerSpec;
const SECOND_NS = 1e9;

/** The value of each `-c name=value` flag, by name. */
const serverFlags = (args: string[] | undefined): Map<string, string> => {
  const flags = new Map<string, string>();
  (args ?? []).forEach((arg, index) => {
    if (arg !== '-c') return;
    const [name, value] = (args?.[index + 1] ?? '').split('=', 2);
    if (name && value !== undefined) flags.set(name, value);
  });
  return flags;
};
const flags = serverFlags(container.Args);

describe('postgresPoolServiceSpec', () => {
  it('never puts the admin password in the environment', () => {
    assert.ok(!container.Env?.some((entry) => entry.startsWith('POSTGRES_PASSWORD=')));
    assert.doesNotMatch(JSON.stringify(spec), /POSTGRES_PASSWORD=/);
  });

  it('points POSTGRES_PASSWORD_FILE at the mounted secret, readable by the postgres user only', () => {
    const secret = container.Secrets?.[0];
    assert.equal(container.Secrets?.length, 1);
    assert.equal(secret?.SecretID, input.secret.id);
    assert.equal(secret?.SecretName, input.secret.name);
    assert.deepEqual(secret?.File, { Name: 'postgres_password', UID: '999', GID: '999', Mode: 0o400 });
    assert.ok(container.Env?.includes(`POSTGRES_PASSWORD_FILE=/run/secrets/${secret?.File.Name}`));
  });

  it('creates the admin role and keeps PGDATA in a subdirectory of the mount', () => {
    assert.deepEqual(container.Env, [
      'POSTGRES_USER=pool_admin',
      'POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password',
      'POSTGRES_DB=postgres',
      'PGDATA=/var/lib/postgresql/data/pgdata',
    ]);
    assert.equal(container.Image, 'postgres:16');
  });

  it('bind-mounts <cephfsRoot>/postgres_pools/<pool name> as the data directory', () => {
    assert.deepEqual(container.Mounts, [
      { Type: 'bind', Source: '/mnt/cephfs/postgres_pools/postgres-pool-1', Target: '/var/lib/postgresql/data' },
    ]);
    assert.equal(poolDataDir('/mnt/cephfs/', 'postgres-pool-1'), '/mnt/cephfs/postgres_pools/postgres-pool-1');
    for (const bad of ['', '.', '..', '../etc', 'a/b']) assert.throws(() => poolDataDir('/mnt/cephfs', bad), RangeError, bad);
  });

  it('starts postgres with every -c flag sized for the pool', () => {
    assert.equal(container.Args?.[0], 'postgres');
    const settings = poolServerSettings(50, 4096);
    assert.deepEqual(Object.fromEntries(flags), {
      max_connections: String(settings.maxConnections),
      shared_buffers: `${settings.sharedBuffersMb}MB`,
      effective_cache_size: `${settings.effectiveCacheSizeMb}MB`,
      work_mem: `${settings.workMemKb}kB`,
      maintenance_work_mem: `${settings.maintenanceWorkMemMb}MB`,
      password_encryption: 'scram-sha-256',
    });
    assert.equal(container.Args?.length, 1 + 2 * 6);
  });

  it('gives a bigger pool more connections and more shared buffers', () => {
    const bigger = postgresPoolServiceSpec({ ...input, pool: { ...input.pool, maxInstances: 120, memoryLimitMb: 8192 } });
    const biggerFlags = serverFlags(bigger.TaskTemplate.ContainerSpec.Args);
    assert.equal(flags.get('max_connections'), '520');
    assert.equal(biggerFlags.get('max_connections'), '1220');
    assert.equal(flags.get('shared_buffers'), '1024MB');
    assert.equal(biggerFlags.get('shared_buffers'), '2048MB');
  });

  it('restarts the pool whenever its task ends, and gives it time to shut down cleanly', () => {
    assert.deepEqual(task.RestartPolicy, { Condition: 'any', Delay: 10 * SECOND_NS, MaxAttempts: 0 });
    assert.equal(container.StopGracePeriod, 60 * SECOND_NS);
  });

  it('health-checks the server over TCP with pg_isready, in nanoseconds', () => {
    const health = container.HealthCheck;
    assert.deepEqual(health?.Test, ['CMD', 'pg_isready', '-U', 'pool_admin', '-d', 'postgres', '-h', '127.0.0.1']);
    assert.ok(health && health.Interval >= 2 * SECOND_NS && health.Interval <= 5 * SECOND_NS);
    assert.ok(health.Timeout > 0 && health.Timeout <= health.Interval);
    assert.equal(health.StartPeriod, 30 * SECOND_NS);
    assert.ok(health.Retries >= 3);
  });

  it('reserves exactly the CPU and memory it is limited to', () => {
    const limits = { NanoCPUs: 2_000_000_000, MemoryBytes: 4096 * 1024 * 1024 };
    assert.deepEqual(task.Resources, { Limits: limits, Reservations: limits });
    const fractional = postgresPoolServiceSpec({ ...input, pool: { ...input.pool, cpuLimit: 0.5 } });
    assert.equal(fractional.TaskTemplate.Resources?.Limits?.NanoCPUs, 500_000_000);
  });

  it('runs one replica on the overlay under its service name, with DNS round-robin and no port by default', () => {
    assert.equal(spec.Name, 'postgres-pool-1');
    assert.deepEqual(spec.Mode, { Replicated: { Replicas: 1 } });
    assert.deepEqual(task.Networks, [{ Target: 'odoo-net', Aliases: ['postgres-pool-1'] }]);
    assert.deepEqual(spec.EndpointSpec, { Mode: 'dnsrr' });
    assert.deepEqual(spec.UpdateConfig, { Parallelism: 1, Order: 'stop-first' });
  });

  it('publishes 5432 in host mode only when a port is given', () => {
    const published = postgresPoolServiceSpec({ ...input, publishedPort: 25432 });
    assert.deepEqual(published.EndpointSpec, {
      Mode: 'dnsrr',
      Ports: [{ Protocol: 'tcp', TargetPort: 5432, PublishedPort: 25432, PublishMode: 'host' }],
    });
  });

  it('places the pool by its constraints, and leaves placement out when there are none', () => {
    assert.equal('Placement' in task, false);
    const constraints = ['node.labels.postgres==true', 'node.role==worker'];
    const placed = postgresPoolServiceSpec({ ...input, placementConstraints: constraints });
    assert.deepEqual(placed.TaskTemplate.Placement, { Constraints: constraints });
  });

  it('labels the service and its containers with the pool, as managed, plus the extra labels', () => {
    const expected = { [labelKeys.managed]: 'true', [labelKeys.poolId]: poolId, [labelKeys.testRun]: 'unit' };
    assert.deepEqual(spec.Labels, expected);
    assert.deepEqual(container.Labels, expected);
    const spoofed = postgresPoolServiceSpec({ ...input, extraLabels: { [labelKeys.poolId]: 'other', [labelKeys.managed]: 'false' } });
    assert.equal(spoofed.Labels[labelKeys.poolId], poolId);
    assert.equal(spoofed.Labels[labelKeys.managed], 'true');
  });

  it('is pure: the same input gives the same spec, and the input is not kept by reference', () => {
    const constraints = ['node.role==manager'];
    const placed = postgresPoolServiceSpec({ ...input, placementConstraints: constraints });
    constraints.push('node.labels.x==y');
    assert.deepEqual(placed.TaskTemplate.Placement?.Constraints, ['node.role==manager']);
    assert.deepEqual(postgresPoolServiceSpec(input), spec);
  });
});

describe('poolServerSettings', () => {
  it('sizes connections at 10 per tenant plus 20 reserved, within 50..2000', () => {
    assert.equal(poolServerSettings(50, 4096).maxConnections, 520);
    assert.equal(poolServerSettings(1, 4096).maxConnections, 50);
    assert.equal(poolServerSettings(10_000, 4096).maxConnections, 2000);
  });

  it('gives shared_buffers a quarter and effective_cache_size three quarters of memory', () => {
    const settings = poolServerSettings(50, 4096);
    assert.equal(settings.sharedBuffersMb, 1024);
    assert.equal(settings.effectiveCacheSizeMb, 3072);
  });

  it('splits what shared_buffers leaves over three operations per connection, never below 1 MB', () => {
    // (4096 - 1024) MB over 520 connections x 3 operations.
    assert.equal(poolServerSettings(50, 4096).workMemKb, Math.floor((3072 * 1024) / (520 * 3)));
    assert.equal(poolServerSettings(50, 256).workMemKb, 1024);
    const settings = poolServerSettings(20, 16_384);
    assert.ok(settings.maxConnections * settings.workMemKb <= (16_384 - settings.sharedBuffersMb) * 1024);
  });

  it('gives maintenance_work_mem 5% of memory, within 16 MB..1 GB', () => {
    assert.equal(poolServerSettings(50, 4096).maintenanceWorkMemMb, 204);
    assert.equal(poolServerSettings(50, 256).maintenanceWorkMemMb, 16);
    assert.equal(poolServerSettings(50, 65_536).maintenanceWorkMemMb, 1024);
  });

  it('refuses sizes that would produce a nonsensical server', () => {
    for (const [instances, memory] of [
      [0, 4096],
      [1.5, 4096],
      [50, 0],
      [50, Number.NaN],
    ] as const) {
      assert.throws(() => poolServerSettings(instances, memory), RangeError, `${instances}, ${memory}`);
    }
  });
});
