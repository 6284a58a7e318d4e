import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { tenantDatabaseName, tenantRoleName } from '../src/domain/names.js';
import {
  CREATE_INSTANCE,
  eventually,
  instanceInput,
  registerLocalPool,
  resetState,
  startTestDaemon,
  withPoolCatalog,
  type TestDaemon,
} from './support/harness.js';
import { INSTANCE, PROVISION, allocatedInstance, instanceWithStatus, settledInstance, terminatedInstance } from './support/odoo.js';
import { liveTasks, scaleService, updateTask } from '../src/swarm/swarm.js';
import type { SwarmService } from '../src/swarm/docker-types.js';
import { odooSpec } from '../src/swarm/odoo-config.js';
import { recordedSpec } from '../src/domain/instances/odoo-spec.js';
import { openSubscription, sseEvents } from './support/sse.js';

const DESIRED = 'query($id: ID!) { instance(id: $id) { status desired serviceName } }';
const act = (verb: string) => `mutation($id: ID!) { ${verb}(instanceId: $id) { id status } }`;

async function statusWhen(daemon: TestDaemon, id: string, wanted: string) {
  return eventually(
    async () => (await daemon.gql(INSTANCE, { id })).data.instance,
    (instance) => instance.status === wanted,
    90_000,
    250,
  );
}

describe('instance lifecycle after RUNNING', () => {
  let daemon: TestDaemon;
  let replica: TestDaemon;
  const replicasOf = async (serviceName: string) => {
    const mode = ((await daemon.deps.docker.getService(serviceName).inspect()) as SwarmService).Spec.Mode;
    return mode && 'Replicated' in mode ? mode.Replicated.Replicas : undefined;
  };
  before(async () => {
    daemon = await startTestDaemon();
    replica = await startTestDaemon({ PROVISION_TRACKING_CRON: '0 0 1 1 *' });
  });
  beforeEach(async () => {
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 5);
  });
  after(async () => {
    await resetState(daemon.deps);
    await replica.stop();
    await daemon.stop();
  });

  it('stops, starts and restarts through their transitional states, streaming each event live to another replica', async () => {
    const { id } = await allocatedInstance(daemon);
    await daemon.gql(PROVISION, { id });
    assert.equal((await settledInstance(daemon, id)).status, 'RUNNING');

    const controller = new AbortController();
    const stream = await openSubscription(
      replica.url,
      replica.deps.config.adminToken,
      'subscription($id: ID!) { instanceEvents(instanceId: $id) { from to cause actor } }',
      { id },
      controller.signal,
    );
    assert.equal(stream.status, 200);
    const live: { from: string; to: string }[] = [];
    const collecting = (async () => {
      for await (const payload of sseEvents(stream)) {
        live.push(payload.data.instanceEvents);
        if (live.length === 6) return;
      }
    })().catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));

    const stopping = await daemon.gql(act('stopInstance'), { id });
    assert.equal(stopping.data.stopInstance.status, 'STOPPING');
    assert.equal((await statusWhen(daemon, id, 'STOPPED')).status, 'STOPPED');
    assert.equal((await daemon.gql(act('stopInstance'), { id })).data.stopInstance.status, 'STOPPED', 'stopping again changes nothing');

    assert.equal((await daemon.gql(act('startInstance'), { id })).data.startInstance.status, 'STARTING');
    assert.equal((await statusWhen(daemon, id, 'RUNNING')).status, 'RUNNING');

    const before = (await daemon.deps.docker.listTasks({
      filters: { label: [`odoo-orchestrator.instance-id=${id}`], 'desired-state': ['running'] },
    })) as { ID: string }[];
    assert.equal((await daemon.gql(act('restartInstance'), { id })).data.restartInstance.status, 'RESTARTING');
    assert.equal((await statusWhen(daemon, id, 'RUNNING')).status, 'RUNNING');
    const afterRestart = (await daemon.deps.docker.listTasks({
      filters: { label: [`odoo-orchestrator.instance-id=${id}`], 'desired-state': ['running'] },
    })) as { ID: string }[];
    assert.notDeepEqual(
      afterRestart.map((task) => task.ID),
      before.map((task) => task.ID),
      'a fresh task runs',
    );

    await Promise.race([collecting, new Promise((resolve) => setTimeout(resolve, 5000))]);
    controller.abort();
    assert.deepEqual(
      live.map((event) => `${event.from}->${event.to}`),
      ['RUNNING->STOPPING', 'STOPPING->STOPPED', 'STOPPED->STARTING', 'STARTING->RUNNING', 'RUNNING->RESTARTING', 'RESTARTING->RUNNING'],
    );

    const history = await daemon.gql('query($id: ID!) { instance(id: $id) { events { nodes { from to cause actor } } } }', { id });
    const transitions = history.data.instance.events.nodes.map(
      (event: { from: string | null; to: string | null; cause: string; actor: string }) =>
        event.to ? `${event.from}->${event.to} ${event.cause} by ${event.actor}` : `${event.cause} by ${event.actor}`,
    );
    assert.deepEqual(transitions.slice(0, 6), [
      'createInstance by admin',
      'CREATING->ALLOCATED createInstance by admin',
      'ALLOCATED->PROVISIONING provisionInstance by admin',
      // The init job completed (the default admin replaced), then the tenant's service was created.
      'initialisation by scheduler',
      'initialisation by scheduler',
      'PROVISIONING->RUNNING tracking by scheduler',
    ]);
    assert.equal(transitions.at(-1), 'RESTARTING->RUNNING tracking by scheduler');
  });

  it('restarts from the spec recorded at provisioning, whatever the service drifted to or the acting replica is configured with', async () => {
    const other = await startTestDaemon({ ODOO_IMAGE: 'local/not-this-one:1', PROVISION_TRACKING_CRON: '0 0 1 1 *' });
    try {
      const { id } = await allocatedInstance(daemon);
      await daemon.gql(PROVISION, { id });
      assert.equal((await settledInstance(daemon, id)).status, 'RUNNING');
      // As if the service had been built from another replica's config.
      const { serviceName } = (await daemon.gql(INSTANCE, { id })).data.instance;
      await updateTask(daemon.deps.docker, serviceName, { image: 'local/not-this-one:1' });
      assert.equal((await other.gql(act('restartInstance'), { id })).data.restartInstance.status, 'RESTARTING');
      assert.equal((await statusWhen(daemon, id, 'RUNNING')).status, 'RUNNING', 'a task of the recorded image runs');
      const tasks = (await daemon.deps.docker.listTasks({
        filters: { label: [`odoo-orchestrator.instance-id=${id}`], 'desired-state': ['running'] },
      })) as { Spec: { ContainerSpec: { Image: string } } }[];
      assert.deepEqual(
        tasks.map((task) => task.Spec.ContainerSpec.Image),
        [daemon.deps.config.odooImages['17.0']],
      );
    } finally {
      await other.stop();
    }
  });

  it('records what was asked apart from what is seen, and finishes what Docker did not take, from the rows alone', async () => {
    const { id } = await allocatedInstance(daemon);
    await daemon.gql(PROVISION, { id });
    assert.equal((await settledInstance(daemon, id)).status, 'RUNNING');
    const view = async () => (await daemon.gql(DESIRED, { id })).data.instance as { status: string; desired: string; serviceName: string };
    assert.equal((await view()).desired, 'RUNNING');

    await daemon.gql(act('stopInstance'), { id });
    const stopped = await statusWhen(daemon, id, 'STOPPED');
    assert.equal((await view()).desired, 'STOPPED');

    // Something starts it behind the daemon's back (or a stop's Docker call never arrived): it is stopped again.
    await scaleService(daemon.deps.docker, stopped.serviceName, 1);
    await eventually(
      () => liveTasks(daemon.deps.docker, stopped.serviceName),
      (tasks) => tasks.length > 0,
      30_000,
      250,
    );
    await eventually(
      () => liveTasks(daemon.deps.docker, stopped.serviceName),
      (tasks) => tasks.length === 0,
      60_000,
      250,
    );
    assert.equal(await replicasOf(stopped.serviceName), 0);
    assert.equal((await view()).status, 'STOPPED', 'it never read as anything else');

    // A daemon killed between recording a start and telling Docker: the row alone says what to do.
    await daemon.deps.db
      .updateTable('instances')
      .set({ status: 'STARTING', desired: 'running', status_changed_at: new Date() })
      .where('id', '=', id)
      .execute();
    assert.equal((await statusWhen(daemon, id, 'RUNNING')).status, 'RUNNING');
    assert.equal(await replicasOf(stopped.serviceName), 1);

    // A daemon killed between recording a plan's new limits (and their spec) and resizing the service: resized.
    const row = await daemon.deps.db.selectFrom('instances').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const resized = odooSpec({ ...recordedSpec(row)!, cpuLimit: 0.75, memoryLimitMb: 640 });
    await daemon.deps.db
      .updateTable('instances')
      .set({
        status: 'RESTARTING',
        status_changed_at: new Date(),
        cpu_limit: 0.75,
        memory_limit_mb: 640,
        odoo_spec: JSON.stringify(resized),
      })
      .where('id', '=', id)
      .execute();
    assert.equal((await statusWhen(daemon, id, 'RUNNING')).status, 'RUNNING');
    const limits = ((await daemon.deps.docker.getService(stopped.serviceName).inspect()) as SwarmService).Spec.TaskTemplate.Resources
      ?.Limits;
    assert.deepEqual(limits, { NanoCPUs: 750_000_000, MemoryBytes: 640 * 1024 * 1024 }, 'the service has the recorded limits');
    const kept = (await liveTasks(daemon.deps.docker, stopped.serviceName)).filter((task) => task.DesiredState === 'running');
    assert.deepEqual(
      kept.map((task) => task.Spec?.Resources?.Limits?.NanoCPUs),
      [750_000_000],
      'and the one task it keeps runs with them',
    );
  });

  it('terminates: no service, secret, role or database left, the slot and the subdomain free again', async () => {
    const { id } = await allocatedInstance(daemon);
    await daemon.gql(PROVISION, { id });
    assert.equal((await settledInstance(daemon, id)).status, 'RUNNING');
    const subdomain = (await daemon.deps.db.selectFrom('instances').select('subdomain').where('id', '=', id).executeTakeFirstOrThrow())
      .subdomain;

    const [first, second] = await Promise.all([daemon.gql(act('terminateInstance'), { id }), daemon.gql(act('terminateInstance'), { id })]);
    // Both answer at once; the reconciler takes the final backup, then removes it all.
    for (const answer of [first, second]) assert.match(answer.data.terminateInstance.status, /^TERMINAT(ING|ED)$/);
    await instanceWithStatus(daemon, id, 'TERMINATED');

    const label = [`odoo-orchestrator.instance-id=${id}`];
    assert.equal((await daemon.deps.docker.listServices({ filters: { label } })).length, 0);
    assert.equal((await daemon.deps.docker.listSecrets({ filters: { label } })).length, 0);
    const onPool = await withPoolCatalog(async (client) => ({
      roles: (await client.query('select 1 from pg_roles where rolname = $1', [tenantRoleName(id)])).rowCount,
      databases: (await client.query('select 1 from pg_database where datname = $1', [tenantDatabaseName(id)])).rowCount,
    }));
    assert.deepEqual(onPool, { roles: 0, databases: 0 });
    const pool = await daemon.gql('{ pools { currentInstances } }');
    assert.equal(pool.data.pools[0].currentInstances, 0);

    assert.ok(
      existsSync(join(daemon.deps.config.cephfsRoot, 'odoo_instances', id, 'filestore')),
      'the filestore is kept (FILESTORE_ON_TERMINATE=keep)',
    );

    const reused = await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ subdomain }) });
    assert.equal(reused.errors, undefined, 'the subdomain is free again');
    const events = await daemon.gql('query($id: ID!) { instance(id: $id) { events { nodes { from to } } } }', { id });
    const transitions = events.data.instance.events.nodes.filter((e: { to: string | null }) => e.to);
    assert.deepEqual(
      transitions.slice(-2).map((e: { from: string; to: string }) => `${e.from}->${e.to}`),
      ['RUNNING->TERMINATING', 'TERMINATING->TERMINATED'],
    );
  });
});

// A daemon of its own: the leader finishes a termination, so the one configured to archive must lead.
describe('instance lifecycle with FILESTORE_ON_TERMINATE=archive', () => {
  let archiving: TestDaemon;
  before(async () => {
    archiving = await startTestDaemon({ FILESTORE_ON_TERMINATE: 'archive' });
    await resetState(archiving.deps);
    await registerLocalPool(archiving, 'pool-local', 5);
  });
  after(async () => {
    await resetState(archiving.deps);
    await archiving.stop();
  });

  it('archives the filestore of a terminated instance', async () => {
    const { id } = await allocatedInstance(archiving);
    const dataDir = join(archiving.deps.config.cephfsRoot, 'odoo_instances', id);
    mkdirSync(join(dataDir, 'filestore'), { recursive: true });
    writeFileSync(join(dataDir, 'filestore', 'attachment.bin'), 'kept');
    assert.equal((await terminatedInstance(archiving, id)).terminated.status, 'TERMINATED');
    assert.equal(existsSync(dataDir), false);
    const archived = join(archiving.deps.config.cephfsRoot, 'odoo_instances_archive', id, 'filestore', 'attachment.bin');
    assert.equal(readFileSync(archived, 'utf8'), 'kept');
  });
});
