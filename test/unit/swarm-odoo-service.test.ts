import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labelKeys } from '../../src/swarm/labels.js';
import { instanceDataDir, odooServiceSpec, type OdooServiceInput } from '../../src/swarm/odoo-service.js';

const instanceId = '3f1c2a9e-8b7d-4c6e-9f0a-1b2c3d4e5f60';

const input: OdooServiceInput = {
  instance: { id: instanceId, subdomain: 'acme', cpuLimit: 1.5, memoryLimitMb: 2048 },
  serviceName: 'odoo-acme-3f1c2a9e',
  image: 'odoo:17.0',
  network: 'odoo-net',
  baseDomain: 'example.com',
  cephfsRoot: '/mnt/cephfs',
  db: { host: 'pool-1', port: 5432, name: 'odoo_3f1c2a9e8b7d4c6e9f0a1b2c3d4e5f60', user: 'odoo_3f1c_user' },
  secret: { id: 'secret-id-1', name: 'odoo-db-password-3f1c2a9e' },
  restartMaxAttempts: 3,
  odooUid: 101,
  extraLabels: { [labelKeys.testRun]: 'unit' },
};

const spec = odooServiceSpec(input);
const task = spec.TaskTemplate;
const container = task.ContainerSpec;
const SECOND_NS = 1e9;

const argAfter = (args: string[] | undefined, flag: string): string | undefined => {
  const index = args?.indexOf(flag) ?? -1;
  return index === -1 ? undefined : args?.[index + 1];
};

describe('odooServiceSpec', () => {
  it('never puts the database password in the environment', () => {
    const everything = JSON.stringify(spec);
    assert.doesNotMatch(everything, /PASSWORD=/);
    assert.ok(!container.Env?.some((entry) => entry.startsWith('PASSWORD=')));
  });

  it('points PASSWORD_FILE at the mounted secret, readable by the odoo user only', () => {
    const secret = container.Secrets?.[0];
    assert.equal(container.Secrets?.length, 1);
    assert.equal(secret?.SecretID, input.secret.id);
    assert.equal(secret?.SecretName, input.secret.name);
    assert.deepEqual(secret?.File, { Name: 'db_password', UID: '101', GID: '101', Mode: 0o400 });
    assert.ok(container.Env?.includes(`PASSWORD_FILE=/run/secrets/${secret?.File.Name}`));
  });

  it('connects to the allocated database as its role', () => {
    assert.deepEqual(
      container.Env?.filter((entry) => /^(HOST|PORT|USER)=/.test(entry)),
      ['HOST=pool-1', 'PORT=5432', 'USER=odoo_3f1c_user'],
    );
    assert.equal(container.Args?.[0], 'odoo');
    assert.equal(argAfter(container.Args, '--database'), input.db.name);
    assert.equal(argAfter(container.Args, '--db-filter'), `^${input.db.name}$`);
    assert.ok(container.Args?.includes('--no-database-list'));
    assert.equal(argAfter(container.Args, '--data-dir'), '/var/lib/odoo');
  });

  it('escapes regex characters of the database name in --db-filter', () => {
    const tricky = odooServiceSpec({ ...input, db: { ...input.db, name: 'a.b*c+(d)|e$%h' } });
    const filter = argAfter(tricky.TaskTemplate.ContainerSpec.Args, '--db-filter');
    assert.equal(filter, '^a\\.b\\*c\\+\\(d\\)\\|e\\$\\x25h$');
    // The escaped body, read as a regex, matches the name itself (JS and Python agree on these escapes).
    assert.match('a.b*c+(d)|e$%h', new RegExp(filter ?? ''));
    assert.doesNotMatch('aXb*c+(d)|e$%h', new RegExp(filter ?? ''));
  });

  it('bind-mounts the tenant directory under <cephfsRoot>/odoo_instances/<id> as the data dir', () => {
    assert.deepEqual(container.Mounts, [
      { Type: 'bind', Source: `/mnt/cephfs/odoo_instances/${instanceId}`, Target: '/var/lib/odoo' },
    ]);
    assert.equal(instanceDataDir('/mnt/cephfs/', instanceId), `/mnt/cephfs/odoo_instances/${instanceId}`);
  });

  it('limits CPU and memory in Docker units, with integer reservations below the limits', () => {
    assert.deepEqual(task.Resources?.Limits, { NanoCPUs: 1_500_000_000, MemoryBytes: 2048 * 1024 * 1024 });
    const reservations = task.Resources?.Reservations;
    assert.ok(reservations);
    for (const key of ['NanoCPUs', 'MemoryBytes'] as const) {
      assert.ok(Number.isInteger(reservations[key]) && reservations[key] > 0, key);
      assert.ok(reservations[key] < (task.Resources?.Limits?.[key] ?? 0), key);
    }
    const fractional = odooServiceSpec({ ...input, instance: { ...input.instance, cpuLimit: 0.1 } });
    assert.equal(fractional.TaskTemplate.Resources?.Limits?.NanoCPUs, 100_000_000);
  });

  it('runs one replica on the overlay network with DNS round-robin, stopping the old task before an update', () => {
    assert.equal(spec.Name, input.serviceName);
    assert.deepEqual(spec.Mode, { Replicated: { Replicas: 1 } });
    assert.deepEqual(spec.EndpointSpec, { Mode: 'dnsrr' });
    assert.deepEqual(task.Networks, [{ Target: 'odoo-net', Aliases: [input.serviceName] }]);
    assert.equal(spec.UpdateConfig?.Order, 'stop-first');
  });

  it('restarts a failed task a bounded number of times', () => {
    assert.deepEqual(task.RestartPolicy, { Condition: 'any', MaxAttempts: 3, Delay: 5 * SECOND_NS, Window: 300 * SECOND_NS });
  });

  it('health-checks /web/health on 8069, with durations in nanoseconds', () => {
    const health = container.HealthCheck;
    assert.deepEqual(health?.Test, ['CMD', 'curl', '-fsS', 'http://localhost:8069/web/health']);
    assert.equal(health?.Interval, 5 * SECOND_NS);
    assert.equal(health?.Timeout, 3 * SECOND_NS);
    assert.equal(health?.StartPeriod, 60 * SECOND_NS);
    assert.equal(health?.Retries, 3);
  });

  it('routes https://<subdomain>.<baseDomain> to port 8069 through Traefik', () => {
    const router = `traefik.http.routers.${input.serviceName}`;
    assert.equal(spec.Labels['traefik.enable'], 'true');
    assert.equal(spec.Labels['traefik.swarm.network'], 'odoo-net');
    assert.equal(spec.Labels[`${router}.rule`], 'Host(`acme.example.com`)');
    assert.equal(spec.Labels[`${router}.entrypoints`], 'websecure');
    assert.equal(spec.Labels[`${router}.tls.certresolver`], 'letsencrypt');
    assert.equal(spec.Labels[`traefik.http.services.${input.serviceName}.loadbalancer.server.port`], '8069');
  });

  it('labels the service and its containers with the instance, as managed, plus the extra labels', () => {
    const expected = {
      [labelKeys.managed]: 'true',
      [labelKeys.instanceId]: instanceId,
      [labelKeys.testRun]: 'unit',
    };
    assert.deepEqual(container.Labels, expected);
    for (const [key, value] of Object.entries(expected)) assert.equal(spec.Labels[key], value, key);
  });

  it('does not let extra labels override the instance labels', () => {
    const spoofed = odooServiceSpec({ ...input, extraLabels: { [labelKeys.instanceId]: 'other', [labelKeys.managed]: 'false' } });
    assert.equal(spoofed.Labels[labelKeys.instanceId], instanceId);
    assert.equal(spoofed.Labels[labelKeys.managed], 'true');
  });
});
