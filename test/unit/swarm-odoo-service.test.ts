import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labelKeys } from '../../src/swarm/labels.js';
import {
  exactDbFilter,
  ODOO_MIN_CPU,
  ODOO_MIN_MEMORY_MB,
  odooConfigFile,
  odooProductionSettings,
  odooSpec,
} from '../../src/swarm/odoo-config.js';
import { ODOO_SERVER, WAIT_FOR_DATABASE } from '../../src/swarm/job-scripts.js';
import { INIT_ARGS, initJobName, odooInitJobSpec } from '../../src/swarm/odoo-init-job.js';
import { instanceDataDir } from '../../src/storage/layout.js';
import { odooServerTask, odooServiceSpec, type OdooServiceInput } from '../../src/swarm/odoo-service.js';

const instanceId = '3f1c2a9e-8b7d-4c6e-9f0a-1b2c3d4e5f60';

const input: OdooServiceInput = {
  instance: { id: instanceId, subdomain: 'acme' },
  spec: odooSpec({ version: '17.0', image: 'odoo:17.0', cpuLimit: 1.5, memoryLimitMb: 2048, env: ['STANDIN_INIT_SECONDS=20'] }),
  serviceName: 'odoo-acme-3f1c2a9e',
  network: 'odoo-net',
  baseDomain: 'example.com',
  tls: { mode: 'per-host', certResolver: 'letsencrypt' },
  cephfsRoot: '/mnt/cephfs',
  configSecret: { id: 'secret-id-1', name: 'odoo-config-3f1c2a9e' },
  restartMaxAttempts: 3,
  restartDelaySeconds: 7,
  healthIntervalSeconds: 4,
  healthStartSeconds: 60,
  stopGraceSeconds: 10,
  odooUid: 101,
  extraLabels: { [labelKeys.testRun]: 'unit' },
};

const spec = odooServiceSpec(input);
const task = spec.TaskTemplate;
const container = task.ContainerSpec;
const job = odooInitJobSpec(input);
const jobContainer = job.TaskTemplate.ContainerSpec;
const SECOND_NS = 1e9;
const db = { host: 'pool-1', port: 5432, name: 'odoo_3f1c2a9e8b7d4c6e9f0a1b2c3d4e5f60', user: 'odoo_3f1c_user', password: 'Secret123' };

/** The command line the container runs: the entrypoint override followed by the arguments. */
const argv = (c: typeof container) => [...(c.Command ?? []), ...(c.Args ?? [])];
const { settings } = input.spec;
/** Workers and memory limits follow the plan: on the command line, where a plan change can update them. */
const settingsArgs = [
  '--workers',
  String(settings.workers),
  '--max-cron-threads',
  String(settings.maxCronThreads),
  '--limit-memory-soft',
  String(settings.limitMemorySoft),
  '--limit-memory-hard',
  String(settings.limitMemoryHard),
];

const parseIni = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split('\n')
      .filter((line) => line.includes(' = '))
      .map((line) => line.split(' = ') as [string, string]),
  );

describe('odooServiceSpec', () => {
  it('reads every database setting from the config secret: no password, host or user in env or on argv', () => {
    const everything = JSON.stringify(spec);
    assert.doesNotMatch(everything, /PASSWORD/);
    assert.deepEqual(container.Env, [
      'ODOO_RC=/run/secrets/odoo.conf',
      'STANDIN_INIT_SECONDS=20',
      `ODOO_ORCHESTRATOR_SERVER=${ODOO_SERVER}`,
    ]);
    assert.deepEqual(container.Args, ['odoo', '-c', '/run/secrets/odoo.conf', ...settingsArgs]);
  });

  it("runs the image, limits, settings and environment of the instance's recorded spec", () => {
    assert.equal(container.Image, 'odoo:17.0');
    const other = odooServiceSpec({ ...input, spec: odooSpec({ ...input.spec, image: 'local/odoo:18.0', memoryLimitMb: 4096 }) });
    assert.equal(other.TaskTemplate.ContainerSpec.Image, 'local/odoo:18.0');
    assert.equal(other.TaskTemplate.Resources?.Limits?.MemoryBytes, 4096 * 1024 * 1024);
    assert.notDeepEqual(other.TaskTemplate.ContainerSpec.Args, container.Args);
    assert.deepEqual(odooServerTask(input.spec), {
      image: container.Image,
      env: container.Env,
      command: container.Command,
      args: container.Args,
      resources: task.Resources,
    });
  });

  it('mounts the config secret readable by the odoo user only', () => {
    assert.deepEqual(container.Secrets, [
      { SecretID: 'secret-id-1', SecretName: 'odoo-config-3f1c2a9e', File: { Name: 'odoo.conf', UID: '101', GID: '101', Mode: 0o400 } },
    ]);
  });

  it('replaces the entrypoint by a wait for the database that reads the config file, then starts odoo through odoo-server.py', () => {
    assert.equal(container.Command?.[0], 'python3');
    assert.equal(container.Command?.[1], '-c');
    assert.equal(container.Command?.[2], WAIT_FOR_DATABASE);
    assert.equal(container.Command?.[3], '/run/secrets/odoo.conf');
    assert.deepEqual(container.Command?.slice(4), ['python3', '-c', "import os; exec(os.environ.pop('ODOO_ORCHESTRATOR_SERVER'))"]);
    assert.deepEqual(container.Args?.slice(0, 3), ['odoo', '-c', '/run/secrets/odoo.conf']);
    assert.ok(container.Env?.includes(`ODOO_ORCHESTRATOR_SERVER=${ODOO_SERVER}`), 'the start script, in the environment');
  });

  it('never initialises: no -i, --init or -u on the long-running service', () => {
    for (const flag of ['-i', '--init', '-u', '--update', '--stop-after-init']) assert.ok(!argv(container).includes(flag), flag);
  });

  it('bind-mounts the tenant directory under <cephfsRoot>/odoo_instances/<id> as the data dir', () => {
    assert.deepEqual(container.Mounts, [{ Type: 'bind', Source: `/mnt/cephfs/odoo_instances/${instanceId}`, Target: '/var/lib/odoo' }]);
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
    const fractional = odooServiceSpec({ ...input, spec: odooSpec({ ...input.spec, cpuLimit: 0.1 }) });
    assert.equal(fractional.TaskTemplate.Resources?.Limits?.NanoCPUs, 100_000_000);
  });

  it('runs one replica on the overlay network with DNS round-robin, stopping the old task before an update', () => {
    assert.equal(spec.Name, input.serviceName);
    assert.deepEqual(spec.Mode, { Replicated: { Replicas: 1 } });
    assert.deepEqual(spec.EndpointSpec, { Mode: 'dnsrr' });
    assert.deepEqual(task.Networks, [{ Target: 'odoo-net', Aliases: [input.serviceName] }]);
    assert.equal(spec.UpdateConfig?.Order, 'stop-first');
  });

  it('gives Odoo the configured time to stop before it is killed', () => {
    assert.equal(container.StopGracePeriod, 10 * SECOND_NS);
  });

  it('restarts a failed task a bounded number of times, after the configured delay', () => {
    assert.deepEqual(task.RestartPolicy, { Condition: 'any', MaxAttempts: 3, Delay: 7 * SECOND_NS, Window: 300 * SECOND_NS });
  });

  it('health-checks /web/health on 8069 at the configured interval, with durations in nanoseconds', () => {
    const health = container.HealthCheck;
    assert.deepEqual(health?.Test, ['CMD', 'curl', '-fsS', 'http://localhost:8069/web/health']);
    assert.equal(health?.Interval, 4 * SECOND_NS);
    assert.equal(health?.Timeout, 3 * SECOND_NS);
    assert.equal(health?.StartPeriod, 60 * SECOND_NS);
    assert.equal(health?.Retries, 3);
  });

  it('routes https://<subdomain>.<baseDomain> to port 8069 through Traefik, one certificate per host by default', () => {
    const router = `traefik.http.routers.${input.serviceName}`;
    assert.equal(spec.Labels['traefik.enable'], 'true');
    assert.equal(spec.Labels['traefik.swarm.network'], 'odoo-net');
    assert.equal(spec.Labels[`${router}.rule`], 'Host(`acme.example.com`)');
    assert.equal(spec.Labels[`${router}.entrypoints`], 'websecure');
    assert.equal(spec.Labels[`${router}.service`], input.serviceName);
    assert.equal(spec.Labels[`${router}.tls.certresolver`], 'letsencrypt');
    assert.equal(spec.Labels[`${router}.tls.domains[0].main`], undefined);
    assert.equal(spec.Labels[`traefik.http.services.${input.serviceName}.loadbalancer.server.port`], '8069');
  });

  it("routes /websocket on the tenant's host to Odoo's gevent port 8072 through a router and service of its own", () => {
    const name = `${input.serviceName}-websocket`;
    const router = `traefik.http.routers.${name}`;
    assert.equal(spec.Labels[`${router}.rule`], 'Host(`acme.example.com`) && PathPrefix(`/websocket`)');
    assert.equal(spec.Labels[`${router}.entrypoints`], 'websecure');
    assert.equal(spec.Labels[`${router}.service`], name);
    assert.equal(spec.Labels[`${router}.tls.certresolver`], 'letsencrypt');
    assert.equal(spec.Labels[`traefik.http.services.${name}.loadbalancer.server.port`], '8072');
  });

  it('with TLS_MODE=wildcard, gives both routers the one *.BASE_DOMAIN certificate from the configured resolver', () => {
    const wildcard = odooServiceSpec({ ...input, tls: { mode: 'wildcard', certResolver: 'dns-cloudflare' } });
    for (const name of [input.serviceName, `${input.serviceName}-websocket`]) {
      const router = `traefik.http.routers.${name}`;
      assert.equal(wildcard.Labels[`${router}.tls.certresolver`], 'dns-cloudflare');
      assert.equal(wildcard.Labels[`${router}.tls.domains[0].main`], 'example.com');
      assert.equal(wildcard.Labels[`${router}.tls.domains[0].sans`], '*.example.com');
    }
  });

  it("labels the service and its containers with the instance, as managed, as the tenant's server, plus the extra labels", () => {
    const expected = {
      [labelKeys.managed]: 'true',
      [labelKeys.instanceId]: instanceId,
      [labelKeys.role]: 'server',
      [labelKeys.testRun]: 'unit',
    };
    assert.deepEqual(container.Labels, expected);
    for (const [key, value] of Object.entries(expected)) assert.equal(spec.Labels[key], value, key);
  });

  it('does not let extra labels override the instance labels or the role', () => {
    const spoofed = odooServiceSpec({
      ...input,
      extraLabels: { [labelKeys.instanceId]: 'other', [labelKeys.managed]: 'false', [labelKeys.role]: 'init' },
    });
    assert.equal(spoofed.Labels[labelKeys.instanceId], instanceId);
    assert.equal(spoofed.Labels[labelKeys.managed], 'true');
    assert.equal(spoofed.Labels[labelKeys.role], 'server');
  });
});

describe('odooInitJobSpec', () => {
  it("runs `odoo -i base --without-demo all --stop-after-init` once, as a Swarm job, with the server's settings", () => {
    assert.deepEqual(job.Mode, { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } });
    assert.deepEqual(jobContainer.Args, ['odoo', '-c', '/run/secrets/odoo.conf', ...settingsArgs, ...INIT_ARGS]);
    assert.deepEqual(INIT_ARGS, ['-i', 'base', '--without-demo', 'all', '--stop-after-init']);
    assert.deepEqual(job.TaskTemplate.RestartPolicy, { Condition: 'on-failure', Delay: 7 * SECOND_NS, MaxAttempts: 3 });
  });

  it('uses the same image, config secret, wait step, data dir, limits and network as the server', () => {
    assert.equal(jobContainer.Image, container.Image);
    assert.deepEqual(jobContainer.Command, container.Command?.slice(0, 4), "Odoo's launcher as it is, after the same wait");
    assert.deepEqual(jobContainer.Secrets, container.Secrets);
    assert.deepEqual(jobContainer.Env, ['ODOO_RC=/run/secrets/odoo.conf', 'STANDIN_INIT_SECONDS=20']);
    assert.deepEqual(jobContainer.Mounts, container.Mounts);
    assert.deepEqual(job.TaskTemplate.Resources, task.Resources);
    assert.deepEqual(job.TaskTemplate.Networks, task.Networks);
    assert.equal(jobContainer.HealthCheck, undefined);
  });

  it('is named after the service and labelled `init`, with no Traefik routing', () => {
    assert.equal(job.Name, initJobName(input.serviceName));
    assert.notEqual(job.Name, spec.Name);
    assert.equal(job.Labels[labelKeys.role], 'init');
    assert.equal(jobContainer.Labels?.[labelKeys.role], 'init');
    assert.equal(job.Labels[labelKeys.instanceId], instanceId);
    assert.ok(!Object.keys(job.Labels).some((key) => key.startsWith('traefik.')));
    assert.ok(job.Name.length <= 63);
  });
});

describe('odoo config file', () => {
  const file = odooConfigFile({ db, masterPassword: 'Master456' });
  const options = parseIni(file);

  it("holds the database settings, password included, for this database only, with Odoo's list and proxy settings", () => {
    assert.ok(file.startsWith('[options]\n'));
    assert.equal(options.db_host, 'pool-1');
    assert.equal(options.db_port, '5432');
    assert.equal(options.db_user, 'odoo_3f1c_user');
    assert.equal(options.db_password, 'Secret123');
    assert.equal(options.db_name, db.name);
    assert.equal(options.dbfilter, `^${db.name}$`);
    assert.equal(options.list_db, 'False');
    assert.equal(options.proxy_mode, 'True');
    assert.equal(options.data_dir, '/var/lib/odoo');
    assert.equal(options.gevent_port, '8072');
    assert.equal(options.admin_passwd, 'Master456', "a master password of its own, not Odoo's default admin");
    for (const key of ['workers', 'limit_memory_soft', 'limit_memory_hard', 'max_cron_threads']) assert.equal(options[key], undefined, key);
  });

  it('refuses a value that would add a line to the file', () => {
    assert.throws(() => odooConfigFile({ db: { ...db, password: 'a\nadmin_passwd = x' }, masterPassword: 'M' }), /spans lines/);
  });

  it('escapes regex characters of the database name in dbfilter', () => {
    const filter = exactDbFilter('a.b*c+(d)|e$%h');
    assert.equal(filter, '^a\\.b\\*c\\+\\(d\\)\\|e\\$\\x25h$');
    // The escaped body, read as a regex, matches the name itself (JS and Python agree on these escapes).
    assert.match('a.b*c+(d)|e$%h', new RegExp(filter));
    assert.doesNotMatch('aXb*c+(d)|e$%h', new RegExp(filter));
  });
});

describe('odooProductionSettings', () => {
  it('runs workers from the CPU limit: at least 2 with one CPU, more with more cores, cron threads besides', () => {
    const one = odooProductionSettings({ cpuLimit: 1, memoryLimitMb: 4096 });
    const four = odooProductionSettings({ cpuLimit: 4, memoryLimitMb: 16384 });
    assert.ok(one.workers >= 2);
    assert.ok(four.workers > one.workers);
    assert.ok(one.maxCronThreads >= 1);
    assert.equal(odooProductionSettings({ cpuLimit: 0.25, memoryLimitMb: 4096 }).workers, 2);
  });

  /** What a freshly forked worker of real Odoo 17.0 / 18.0 measured (docs/architecture.md, "Odoo's workers and memory"). */
  const WORKER_BIRTH_VIRTUAL = 268 * 1024 * 1024;

  it("sets Odoo's per-worker virtual-size limits above a worker's birth size on every plan, never above Odoo's defaults", () => {
    for (const limits of [
      { cpuLimit: ODOO_MIN_CPU, memoryLimitMb: ODOO_MIN_MEMORY_MB },
      { cpuLimit: 0.5, memoryLimitMb: 512 },
      { cpuLimit: 1, memoryLimitMb: 1024 },
      { cpuLimit: 2, memoryLimitMb: 4096 },
      { cpuLimit: 8, memoryLimitMb: 2048 },
      { cpuLimit: 64, memoryLimitMb: 256 * 1024 },
    ]) {
      const s = odooProductionSettings(limits);
      assert.ok(s.limitMemorySoft > WORKER_BIRTH_VIRTUAL * 1.5, JSON.stringify(limits));
      assert.ok(s.limitMemorySoft < s.limitMemoryHard, JSON.stringify(limits));
      assert.ok(s.limitMemorySoft <= 2048 * 1024 * 1024 && s.limitMemoryHard <= 2560 * 1024 * 1024, JSON.stringify(limits));
      assert.ok(Number.isInteger(s.limitMemoryHard) && Number.isInteger(s.limitMemorySoft));
    }
  });

  it('gives the default plan (1 CPU, 1 GiB) 3 workers recycled past 640 MiB of virtual size, stopped at 896 MiB', () => {
    assert.deepEqual(odooProductionSettings({ cpuLimit: 1, memoryLimitMb: 1024 }), {
      workers: 3,
      maxCronThreads: 1,
      limitMemorySoft: 640 * 1024 * 1024,
      limitMemoryHard: 896 * 1024 * 1024,
    });
  });

  it('runs fewer workers than the CPUs allow when the memory limit cannot hold them', () => {
    const tight = odooProductionSettings({ cpuLimit: 8, memoryLimitMb: 2048 });
    assert.equal(tight.workers, 9);
    assert.equal(odooProductionSettings({ cpuLimit: 8, memoryLimitMb: 1024 }).workers, 4);
    assert.equal(odooProductionSettings({ cpuLimit: 8, memoryLimitMb: 512 }).workers, 2);
  });
});
