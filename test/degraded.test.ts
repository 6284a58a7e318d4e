import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { trackInstances } from '../src/jobs/instance-tracking.js';
import { instanceLabels, labelKeys } from '../src/swarm/labels.js';
import {
  eventually,
  registerLocalPool,
  resetState,
  runLabels,
  scrapeMetrics,
  startTestDaemon,
  type TestDaemon,
} from './support/harness.js';
import { INSTANCE, PROVISION, allocatedInstance, instanceWithStatus, settledInstance, type InstanceView } from './support/odoo.js';

const act = (verb: string) => `mutation($id: ID!) { ${verb}(instanceId: $id) { id status } }`;

/** Kills the container of the service's running task, as a crash would (SIGKILL). */
async function killTask(docker: Docker, serviceId: string): Promise<void> {
  const [container] = await docker.listContainers({
    filters: { label: [`com.docker.swarm.service.id=${serviceId}`], status: ['running'] },
  });
  assert.ok(container, 'a running container to kill');
  await docker.getContainer(container.Id).kill();
}

describe('status follows reality after RUNNING', () => {
  let daemon: TestDaemon;
  before(async () => {
    // One restart allowed: the second crash is the one Swarm gives up on. Swarm waits 2 s before it restarts a task:
    // time enough to read DEGRADED.
    daemon = await startTestDaemon({ ODOO_RESTART_MAX_ATTEMPTS: '1', ODOO_RESTART_DELAY_SECONDS: '2' });
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 5);
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  type View = Pick<InstanceView, 'status' | 'error' | 'conditions'>;
  const view = async (id: string) => (await daemon.gql(INSTANCE, { id })).data.instance as View;
  const statusWhen = (id: string, wanted: string, timeoutMs?: number) => instanceWithStatus<View>(daemon, id, wanted, { timeoutMs });

  it('reads DEGRADED while Swarm restarts a dead task, RUNNING again, FAILED when Swarm gives up; restart works from FAILED; one-shot jobs never count', async () => {
    const { id } = await allocatedInstance(daemon);
    await daemon.gql(PROVISION, { id });
    assert.equal((await settledInstance(daemon, id)).status, 'RUNNING');
    const { service_id: serviceId } = await daemon.deps.db
      .selectFrom('instances')
      .select('service_id')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();

    // A one-shot job of the tenant (initialisation, backup) that fails is a separate service: the tenant stays RUNNING.
    await daemon.deps.docker.createService(
      {},
      {
        Name: `job-${id.slice(0, 8)}-init`,
        Labels: { ...instanceLabels(id, runLabels), [labelKeys.role]: 'init' },
        TaskTemplate: {
          ContainerSpec: {
            Image: daemon.deps.config.odooImages['17.0'],
            Command: ['/bin/sh', '-c', 'exit 3'],
            Labels: { ...instanceLabels(id, runLabels), [labelKeys.role]: 'init' },
          },
          RestartPolicy: { Condition: 'none' },
        },
        Mode: { Replicated: { Replicas: 1 } },
      },
    );
    const jobFailed = await eventually(
      async () =>
        (await daemon.deps.docker.listTasks({ filters: { label: [`${labelKeys.role}=init`, `${labelKeys.instanceId}=${id}`] } })) as {
          Status: { State: string };
        }[],
      (tasks) => tasks.some((task) => task.Status.State === 'failed'),
      60_000,
    );
    assert.ok(
      jobFailed.some((task) => task.Status.State === 'failed'),
      'the job failed',
    );
    // A tracking pass that sees the failed job (the leader's own passes run meanwhile too).
    await trackInstances(daemon.deps);
    assert.equal((await view(id)).status, 'RUNNING', 'a failed one-shot job does not degrade the tenant');

    let killedAt = Date.now();
    await killTask(daemon.deps.docker, serviceId!);
    const degraded = await statusWhen(id, 'DEGRADED', 30_000);
    console.log(`[measure] task death -> DEGRADED: ${Date.now() - killedAt} ms`);
    assert.equal(degraded.status, 'DEGRADED');
    assert.match(degraded.error ?? '', /Odoo is not running \(.*137.*\)/);
    assert.deepEqual(
      degraded.conditions.map(({ phase, reason }) => ({ phase, reason })),
      [{ phase: 'SERVICE', reason: degraded.error }],
      "the reason is the service phase's",
    );
    const back = await statusWhen(id, 'RUNNING');
    console.log(`[measure] task death -> RUNNING again (Swarm restarted it): ${Date.now() - killedAt} ms`);
    assert.equal(back.error, null);
    assert.deepEqual(back.conditions, [], 'nothing is wrong once it runs again');

    killedAt = Date.now();
    await killTask(daemon.deps.docker, serviceId!);
    const failed = await statusWhen(id, 'FAILED', 60_000);
    console.log(`[measure] second task death -> FAILED (Swarm gave up): ${Date.now() - killedAt} ms`);
    assert.match(failed.error ?? '', /^Swarm gave up restarting Odoo; last: .*137/);

    const metrics = await (await scrapeMetrics(daemon.url)).text();
    assert.match(metrics, /^orchestrator_instances\{status="FAILED"\} 1$/m);

    assert.equal((await daemon.gql(act('restartInstance'), { id })).data.restartInstance.status, 'RESTARTING');
    assert.equal((await statusWhen(id, 'RUNNING')).status, 'RUNNING');

    const history = await daemon.gql('query($id: ID!) { instance(id: $id) { events { nodes { from to cause } } } }', { id });
    const moves = history.data.instance.events.nodes
      .filter((e: { to: string | null }) => e.to)
      .map((e: { from: string; to: string }) => `${e.from}->${e.to}`);
    const sinceRunning = moves.slice(moves.indexOf('PROVISIONING->RUNNING') + 1);
    // The second death may be seen as DEGRADED first or, when Swarm's verdict is already in, as FAILED directly.
    const secondDeath = sinceRunning.includes('DEGRADED->FAILED') ? ['RUNNING->DEGRADED', 'DEGRADED->FAILED'] : ['RUNNING->FAILED'];
    assert.deepEqual(sinceRunning, ['RUNNING->DEGRADED', 'DEGRADED->RUNNING', ...secondDeath, 'FAILED->RESTARTING', 'RESTARTING->RUNNING']);
  });
});
