import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { generatePassword } from '../src/crypto/passwords.js';
import { credentialsKey, tenantDatabaseName, tenantRoleName } from '../src/domain/names.js';
import { dropTenantDatabase } from '../src/db/pool-server.js';
import { ensureDirUnder } from '../src/storage/dirs.js';
import { odooConfigFile, odooSpec } from '../src/swarm/odoo-config.js';
import { odooInitJobSpec } from '../src/swarm/odoo-init-job.js';
import { instanceDataDir } from '../src/storage/layout.js';
import { createService, ensureSecret, removeJob } from '../src/swarm/swarm.js';
import type { SwarmService, SwarmTask } from '../src/swarm/docker-types.js';
import { instanceLabels, labelFilters, labelKeys } from '../src/swarm/labels.js';
import {
  CREATE_INSTANCE,
  customerToken,
  eventually,
  instanceInput,
  connectAsTenant,
  registerLocalPool,
  resetState,
  runLabels,
  startTestDaemon,
  testRun,
  withPoolCatalog,
  type TestDaemon,
  expectError,
} from './support/harness.js';
import { INSTANCE, PROVISION, RESTART, allocatedInstance, settledBySuccessor, settledInstance, statusOf } from './support/odoo.js';
import { commandLinesContaining, commandLinesMatching, passlibVerifies, tenantState } from './support/tenant.js';

const INIT_SECONDS = 8;
const RESET = `mutation($id: ID!) { resetInstanceAdminPassword(instanceId: $id) { login password } }`;
const EVENTS = `query($id: ID!) { instance(id: $id) { events { nodes { from to cause actor message } } } }`;
const HASH = /^\$pbkdf2-sha512\$600000\$[./A-Za-z0-9]{22}\$[./A-Za-z0-9]{86}$/;

type Event = { from: string | null; to: string | null; cause: string; actor: string; message: string | null };

const servicesOf = async (daemon: TestDaemon, id: string) =>
  (await daemon.deps.docker.listServices({ filters: labelFilters(instanceLabels(id)) })) as unknown as SwarmService[];
const rolesOf = async (daemon: TestDaemon, id: string) =>
  (await servicesOf(daemon, id)).map((service) => service.Spec.Labels[labelKeys.role]).sort();
const eventsOf = async (daemon: TestDaemon, id: string) => (await daemon.gql(EVENTS, { id })).data.instance.events.nodes as Event[];

/** Running containers of the instance playing `role` (containers carry their service's role label). */
async function containersOf(daemon: TestDaemon, id: string, role: string) {
  return daemon.deps.docker.listContainers({ filters: { label: [`${labelKeys.instanceId}=${id}`, `${labelKeys.role}=${role}`] } });
}

async function canLogin(credentials: { db_user: string; db_password: string; db_name: string }): Promise<string> {
  try {
    await (await connectAsTenant(credentials)).end();
    return 'ok';
  } catch (error) {
    return (error as Error).message;
  }
}

describe(`tenant initialisation (STANDIN_INIT_SECONDS=${INIT_SECONDS})`, () => {
  let daemon: TestDaemon;
  let instance: { id: string; credentials: { db_user: string; db_password: string; db_name: string } };
  const adminEmail = 'owner@acme.example';

  before(async () => {
    daemon = await startTestDaemon({
      ODOO_EXTRA_ENV: `STANDIN_INIT_SECONDS=${INIT_SECONDS}`,
      ORCHESTRATOR_DOMAIN: 'ops.example.com',
      RESERVED_SUBDOMAINS: 'billing-portal, status-page',
    });
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 10);
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('initialises the database in a one-shot job before the service exists, and reads RUNNING only once it is ready', async (t) => {
    instance = await allocatedInstance(daemon);
    const { id } = instance;
    const started = Date.now();
    const provisioned = await daemon.gql(PROVISION, { id });
    assert.equal(provisioned.errors, undefined, JSON.stringify(provisioned.errors));

    let sawInitJob = false;
    let scannedDuringInit = false;
    for (;;) {
      const status = await statusOf(daemon, id);
      const state = await tenantState(id);
      if (status !== 'PROVISIONING') {
        assert.equal(status, 'RUNNING', JSON.stringify(await daemon.gql(INSTANCE, { id })));
        assert.equal(state.base, 'installed', 'RUNNING means base is installed');
        assert.equal(state.admin?.login, adminEmail, 'and the admin is the customer, not admin/admin');
        break;
      }
      const roles = await rolesOf(daemon, id);
      if (roles.includes('init')) sawInitJob = true;
      if (state.base !== 'installed')
        assert.ok(!roles.includes('server'), `the server started before initialisation ended: ${roles.join(', ')}`);
      if ((await containersOf(daemon, id, 'init')).length > 0) {
        assert.deepEqual(
          commandLinesContaining(instance.credentials.db_password),
          [],
          'the database password on a command line during initialisation',
        );
        scannedDuringInit = true;
      }
      assert.ok(Date.now() - started < 240_000, 'provisioning took too long');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const readyMs = Date.now() - started;
    t.diagnostic(`STANDIN_INIT_SECONDS=${INIT_SECONDS}: provisionInstance to RUNNING ${(readyMs / 1000).toFixed(1)} s`);
    assert.ok(readyMs >= INIT_SECONDS * 1000, `RUNNING after ${readyMs} ms, before initialisation could end`);
    assert.ok(sawInitJob, 'an init job ran');
    assert.ok(scannedDuringInit, 'command lines were checked while the init job ran');

    const services = await servicesOf(daemon, id);
    assert.deepEqual(
      services.map((service) => service.Spec.Labels[labelKeys.role]),
      ['server'],
      'the init job is gone once done',
    );
    const jobContainers = await daemon.deps.docker.listContainers({
      all: true,
      filters: { label: [`${labelKeys.instanceId}=${id}`, `${labelKeys.role}=init`] },
    });
    assert.deepEqual(
      jobContainers.map((container) => container.Names),
      [],
      'and so are its finished containers',
    );
    const args = [
      ...(services[0]!.Spec.TaskTemplate.ContainerSpec.Command ?? []),
      ...(services[0]!.Spec.TaskTemplate.ContainerSpec.Args ?? []),
    ];
    for (const flag of ['-i', '--init', '-u', '--update']) assert.ok(!args.includes(flag), `${flag} on the server`);
    const row = await daemon.deps.db
      .selectFrom('instances')
      .select(['service_id', 'init_job_id', 'initialized_at'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    assert.equal(row.service_id, services[0]!.ID, "the row's service is the server");
    assert.equal(row.init_job_id, null);
    assert.ok(row.initialized_at);
    const messages = (await eventsOf(daemon, id)).map((event) => event.message ?? '');
    assert.ok(messages.some((message) => /initialising the database/.test(message)));
    assert.ok(messages.some((message) => /database initialised/.test(message)));
  });

  it('carries the database password on no command line on the node while Odoo serves', async () => {
    const [container] = await containersOf(daemon, instance.id, 'server');
    assert.ok(container, 'the server container runs');
    const top = (await daemon.deps.docker.getContainer(container.Id).top({ ps_args: '-eo pid,args' })) as { Processes: string[][] };
    const lines = top.Processes.map((process) => process.join(' '));
    assert.ok(
      lines.some((line) => line.includes('odoo -c /run/secrets/odoo.conf')),
      `odoo runs on its config file: ${lines.join(' | ')}`,
    );
    for (const line of lines) assert.ok(!line.includes(instance.credentials.db_password), `password in docker top: ${line}`);
    assert.ok(commandLinesMatching(/odoo -c \/run\/secrets\/odoo\.conf/).length > 0, 'the scan sees the containers’ processes');
    assert.deepEqual(commandLinesContaining(instance.credentials.db_password), []);
    const inspected = JSON.stringify(await daemon.deps.docker.getContainer(container.Id).inspect());
    assert.ok(!inspected.includes(instance.credentials.db_password), 'password in docker inspect');
  });

  it('restarts without initialising again', async (t) => {
    const { id } = instance;
    const before = await tenantState(id);
    const started = Date.now();
    assert.equal((await daemon.gql(RESTART, { id })).data.restartInstance.status, 'RESTARTING');
    const settled = await eventually(
      () => statusOf(daemon, id),
      (status) => status !== 'RESTARTING',
      180_000,
      250,
    );
    const restartMs = Date.now() - started;
    t.diagnostic(`STANDIN_INIT_SECONDS=${INIT_SECONDS}: restartInstance to RUNNING ${(restartMs / 1000).toFixed(1)} s`);
    assert.equal(settled, 'RUNNING');
    const afterRestart = await tenantState(id);
    assert.equal(afterRestart.base, 'installed');
    assert.deepEqual(afterRestart.baseWrittenAt, before.baseWrittenAt, 'base was not loaded again');
    assert.deepEqual(afterRestart.admin, before.admin);
    assert.deepEqual(await rolesOf(daemon, id), ['server'], 'no init job for a restart');
  });

  it('gives no default password: the stored hash refuses admin, and a reset password verifies, once, for the owner only', async () => {
    const { id } = instance;
    const initial = (await tenantState(id)).admin!;
    assert.equal(initial.login, adminEmail);
    assert.match(initial.password, HASH, 'stored the way Odoo 17 stores it');
    assert.equal(passlibVerifies(initial.password, 'admin'), false, 'admin/admin is refused');

    const first = await daemon.gql(RESET, { id });
    assert.equal(first.errors, undefined, JSON.stringify(first.errors));
    const issued = first.data.resetInstanceAdminPassword as { login: string; password: string };
    assert.equal(issued.login, adminEmail);
    assert.ok(issued.password.length >= 20);
    const afterFirst = (await tenantState(id)).admin!;
    assert.match(afterFirst.password, HASH);
    assert.equal(passlibVerifies(afterFirst.password, issued.password), true, 'the reset password verifies');
    assert.equal(passlibVerifies(afterFirst.password, 'admin'), false);

    const owner = await customerToken('6f1c2a9e-2b1d-4c3e-9f10-0a1b2c3d4e5f');
    const second = await daemon.gql(RESET, { id }, { token: owner });
    assert.equal(second.errors, undefined, JSON.stringify(second.errors));
    const reissued = second.data.resetInstanceAdminPassword as { login: string; password: string };
    assert.notEqual(reissued.password, issued.password);
    const afterSecond = (await tenantState(id)).admin!;
    assert.equal(passlibVerifies(afterSecond.password, reissued.password), true);
    assert.equal(passlibVerifies(afterSecond.password, issued.password), false, 'each reset replaces the previous password');

    const stranger = await customerToken('0b8e7a1c-1d2e-4f30-8a9b-7c6d5e4f3a21');
    const refused = await daemon.gql(RESET, { id }, { token: stranger });
    // Another customer learns nothing, not even that the instance exists.
    expectError(refused, 'NOT_FOUND');
    assert.equal((await tenantState(id)).admin!.password, afterSecond.password);

    const resets = (await eventsOf(daemon, id)).filter((event) => event.cause === 'resetInstanceAdminPassword');
    assert.deepEqual(
      resets.map((event) => event.actor),
      ['admin', 'customer:6f1c2a9e-2b1d-4c3e-9f10-0a1b2c3d4e5f'],
    );
    const rows = JSON.stringify([
      await daemon.deps.db.selectFrom('instances').selectAll().execute(),
      await daemon.deps.db.selectFrom('instance_events').selectAll().execute(),
    ]);
    for (const password of [issued.password, reissued.password]) {
      assert.ok(!rows.includes(password), 'a password in a row of the daemon');
      for (const line of daemon.logs) assert.ok(!line.includes(password), `a password in a log line: ${line}`);
    }
  });

  it('refuses a reset before the database is initialised', async () => {
    const { id } = await allocatedInstance(daemon);
    const early = await daemon.gql(RESET, { id });
    expectError(early, 'CONFLICT');
  });

  it('re-issues credentials that expired before provisioning: RUNNING, the old password refused, an event saying so', async () => {
    const { id, credentials } = await allocatedInstance(daemon);
    await daemon.deps.redis.del(credentialsKey(id));
    const provisioned = await daemon.gql(PROVISION, { id });
    assert.equal(provisioned.errors, undefined, JSON.stringify(provisioned.errors));
    assert.equal(provisioned.data.provisionInstance.status, 'PROVISIONING');
    assert.match(await canLogin(credentials), /password authentication failed/, 'the old password stops working');
    const events = await eventsOf(daemon, id);
    assert.ok(
      events.some(
        (event) =>
          event.actor === 'admin' && /credentials expired: role odoo_[0-9a-f]{32}_user given a new password/.test(event.message ?? ''),
      ),
    );

    const settled = await settledInstance(daemon, id, 240_000);
    assert.equal(settled.status, 'RUNNING', settled.error ?? '');
    assert.equal((await tenantState(id)).base, 'installed');
  });

  it('refuses the platform’s own host names with VALIDATION_FAILED', async () => {
    for (const subdomain of [
      'orchestrator',
      'killbill',
      'traefik',
      'grafana',
      'prometheus',
      'api',
      'www',
      'admin',
      'mail',
      'ops',
      'billing-portal',
      'status-page',
    ]) {
      const refused = await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ subdomain }) });
      assert.equal(refused.errors?.[0]?.extensions?.code, 'VALIDATION_FAILED', subdomain);
      assert.match(refused.errors?.[0]?.message ?? '', /input\.subdomain: is reserved/, subdomain);
    }
    const allowed = await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ subdomain: 'ops-team' }) });
    assert.equal(allowed.errors, undefined, JSON.stringify(allowed.errors));
  });

  it("runs the init job to completion on its own, leaving Odoo 17's admin/admin, as the real image would", async () => {
    // The job spec alone, on a scratch database: what the daemon then replaces (see the tests above).
    const scratchId = randomUUID();
    const tenant = { database: tenantDatabaseName(scratchId), role: tenantRoleName(scratchId) };
    const password = generatePassword(32);
    await withPoolCatalog(async (client) => {
      await client.query(`create role ${client.escapeIdentifier(tenant.role)} login password ${client.escapeLiteral(password)}`);
      await client.query(`grant ${client.escapeIdentifier(tenant.role)} to current_user`);
      await client.query(`create database ${client.escapeIdentifier(tenant.database)} owner ${client.escapeIdentifier(tenant.role)}`);
    });
    try {
      const config = odooConfigFile({
        db: { host: process.env.POOL_HOST ?? '127.0.0.1', port: 5432, name: tenant.database, user: tenant.role, password },
        masterPassword: generatePassword(32),
      });
      const secret = await ensureSecret(daemon.deps.docker, `${testRun}-scratch-config`, config, runLabels);
      await ensureDirUnder(daemon.deps.storage.root, instanceDataDir(daemon.deps.storage.root, scratchId), 101, 101);
      const serviceName = `odoo-scratch-${testRun}`;
      const jobId = await createService(
        daemon.deps.docker,
        odooInitJobSpec({
          instance: { id: scratchId, subdomain: 'scratch' },
          spec: odooSpec({ version: '17.0', image: daemon.deps.config.odooImages['17.0']!, cpuLimit: 0.5, memoryLimitMb: 512, env: [] }),
          serviceName,
          network: daemon.deps.config.swarmNetwork,
          cephfsRoot: daemon.deps.storage.tenantRoot,
          configSecret: secret,
          restartMaxAttempts: 1,
          restartDelaySeconds: daemon.deps.config.odooRestartDelaySeconds,
          odooUid: 101,
          extraLabels: runLabels,
        }),
      );
      const tasks = await eventually(
        () => daemon.deps.docker.listTasks({ filters: { service: [jobId] } }) as Promise<SwarmTask[]>,
        (found) => found.some((task) => ['complete', 'failed', 'rejected'].includes(task.Status.State)),
        120_000,
        500,
      );
      assert.deepEqual(
        tasks.map((task) => task.Status.State),
        ['complete'],
        JSON.stringify(tasks.map((task) => task.Status)),
      );
      const state = await tenantState(scratchId);
      assert.equal(state.base, 'installed');
      assert.equal(state.admin?.login, 'admin');
      assert.match(state.admin.password, HASH);
      assert.equal(passlibVerifies(state.admin.password, 'admin'), true, "the image's default admin/admin");
      await removeJob(daemon.deps.docker, `${serviceName}-init`);
    } finally {
      await withPoolCatalog((client) => dropTenantDatabase(client, tenant));
    }
  });

  it('is followed to RUNNING by a daemon started while the first one was initialising', async () => {
    const { id } = await allocatedInstance(daemon);
    await daemon.gql(PROVISION, { id });
    await eventually(
      () => containersOf(daemon, id, 'init'),
      (containers) => containers.length > 0,
      60_000,
    );
    await daemon.daemon.leadership.stop();

    assert.deepEqual(await settledBySuccessor(daemon, id, 240_000), { status: 'RUNNING', error: null });
    const state = await tenantState(id);
    assert.equal(state.base, 'installed');
    assert.equal(state.admin?.login, adminEmail);
  });
});
