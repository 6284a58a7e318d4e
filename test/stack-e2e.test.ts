/**
 * The daemon as operators run it: its image (scripts/env/daemon-image.sh), `docker stack deploy` of
 * stack/odoo-orchestrator.yml (+ the Kill Bill override) under a stack name of its own, with its own PostgreSQL and
 * Redis (stand-ins), every credential a Docker secret. Then the product end to end through one replica or the other:
 * a pool provisioned on the overlay, an instance provisioned by an admin and terminated, an instance provisioned by
 * a Kill Bill notification while the leader's task is killed. At the end the stack and everything it made are gone.
 *
 * Takes minutes. Needs root, the local swarm (scripts/env/up.sh) and the stand-in images.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
// Takes a slot like every suite, so the faults suite never freezes dockerd under this one.
import './support/isolation.js';
import { startKillbillFake, type KillbillFake } from './support/killbill-fake.js';
import {
  buildDaemonImage,
  containerLogs,
  deployStack,
  docker,
  eventually,
  gatewayBridgeGateway,
  gql,
  leaderGauge,
  leftovers,
  liveReplicas,
  newStackRun,
  relay,
  removeStack,
  removeStaleStacks,
  serviceTasks,
  stackFile,
  stackLogs,
  waitForReplicas,
  type Replica,
  type StackRun,
} from './support/stack.js';

const POOL_FIELDS = 'id name host port status statusReason healthStatus serviceName';
const INSTANCE_FIELDS = 'id status serviceName error dbHost dbPort';
const PROVISION_POOL = `mutation($input: ProvisionPoolInput!) { provisionPool(input: $input) { ${POOL_FIELDS} } }`;
const POOL = `query($id: ID!) { pool(id: $id) { ${POOL_FIELDS} } }`;
const CREATE_INSTANCE = `mutation($input: CreateInstanceInput!) { createInstance(input: $input) { ${INSTANCE_FIELDS} } }`;
const INSTANCE = `query($id: ID!) { instance(id: $id) { ${INSTANCE_FIELDS} } }`;
const PROVISION = `mutation($id: ID!) { provisionInstance(instanceId: $id) { ${INSTANCE_FIELDS} } }`;
const TERMINATE = `mutation($id: ID!) { terminateInstance(instanceId: $id) { ${INSTANCE_FIELDS} } }`;

const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)}s`;
const note = (message: string) => process.stderr.write(`  stack-e2e: ${message}\n`);

describe('the daemon deployed with docker stack deploy', { timeout: 25 * 60_000 }, () => {
  let run: StackRun;
  let killbill: KillbillFake;
  let killbillRelay: { url: string; close: () => Promise<void> };
  let replicas: Replica[];
  let adminToken: string;
  let pool: { id: string; name: string };
  const daemonService = () => run.service('orchestrator');

  /** Runs `work`; on failure the stack's last log lines join the error, since the daemon's logs are not ours. */
  const withLogs = async (work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      const logs = run ? `\n${await stackLogs(run)}` : '';
      if (error instanceof Error) error.stack = `${error.stack ?? error.message}${logs}`;
      throw error;
    }
  };
  const api = async <T = any>(replica: Replica, query: string, variables?: Record<string, unknown>) => {
    const result = await gql<T>(replica, adminToken, query, variables);
    assert.equal(result.errors, undefined, `${query.slice(0, 60)}: ${JSON.stringify(result.errors)}`);
    return result.data as T;
  };
  const instanceOn = async (replica: Replica, id: string) => (await api(replica, INSTANCE, { id })).instance;
  const instanceWhen = (replica: () => Replica, id: string, done: (instance: any) => boolean, timeoutMs: number) =>
    eventually(
      () => instanceOn(replica(), id).catch(() => null),
      (instance) => instance !== null && done(instance),
      timeoutMs,
      500,
    );
  const instanceInput = (label: string, subscriptionId?: string) => ({
    customerId: randomUUID(),
    name: `Stack e2e ${label}`,
    subdomain: `${run.name}-${label}`,
    odooVersion: '17.0',
    adminEmail: 'owner@stack-e2e.example',
    ...(subscriptionId ? { subscriptionId } : {}),
    memoryLimit: '512M',
    cpuLimit: 0.5,
  });

  before(async () => {
    const buildStarted = Date.now();
    const stale = await removeStaleStacks();
    if (stale.length > 0) note(`removed stacks of interrupted runs: ${stale.join(', ')}`);
    const built = await buildDaemonImage();
    note(`daemon image ready in ${built.toFixed(1)}s`);

    // The daemon asks Kill Bill for the facts behind each notification. The fake listens on 127.0.0.1; a relay on
    // the docker_gwbridge gateway lets the replicas reach it.
    killbill = await startKillbillFake();
    killbillRelay = await relay(await gatewayBridgeGateway(), new URL(killbill.url));
    run = newStackRun({
      files: [stackFile('odoo-orchestrator.yml'), stackFile('odoo-orchestrator.killbill.yml')],
      extraSecrets: {
        killbill_api_key: killbill.credentials.apiKey,
        killbill_api_secret: killbill.credentials.apiSecret,
        killbill_username: killbill.credentials.username,
        killbill_password: killbill.credentials.password,
      },
      env: { KILLBILL_URL: killbillRelay.url },
    });
    adminToken = run.secrets.admin_token!;
    const deployStarted = Date.now();
    await deployStack(run);
    await withLogs(async () => {
      replicas = await waitForReplicas(daemonService(), 2, 240_000);
    });
    note(`stack ${run.name} deployed, 2 replicas healthy in ${seconds(deployStarted)} (${seconds(buildStarted)} with the image)`);
  });

  after(async () => {
    const removing = Date.now();
    if (run) {
      const problems = await removeStack(run);
      const left = await leftovers(run);
      note(`stack ${run.name} removed in ${seconds(removing)}`);
      await killbillRelay?.close();
      await killbill?.close();
      assert.deepEqual(problems, [], 'removal problems');
      assert.deepEqual(left, [], 'left behind');
    } else {
      await killbillRelay?.close();
      await killbill?.close();
    }
  });

  it('runs two healthy replicas that both answer GraphQL, with no secret in any service spec', () =>
    withLogs(async () => {
      assert.equal(replicas.length, 2);
      for (const replica of replicas) {
        const result = await gql(replica, adminToken, '{ pools { id } }');
        assert.equal(result.status, 200);
        assert.deepEqual(result.data, { pools: [] });
        assert.equal(
          (await gql(replica, 'not-the-admin-token-at-all-xxxxxxxx', '{ pools { id } }')).errors?.[0]?.extensions?.code,
          'UNAUTHENTICATED',
        );
        // GraphiQL, as an operator's browser asks for it (README: any user name, the admin token as password).
        const graphiql = await fetch(`${replica.url}/graphql`, {
          headers: { accept: 'text/html', authorization: `Basic ${Buffer.from(`operator:${adminToken}`).toString('base64')}` },
        });
        assert.equal(graphiql.status, 200);
        assert.match(graphiql.headers.get('content-type') ?? '', /text\/html/);
        await graphiql.body?.cancel();
      }
      for (const short of ['orchestrator', 'orchestrator-db', 'orchestrator-redis']) {
        const spec = JSON.stringify(await docker.getService(run.service(short)).inspect());
        for (const [name, value] of Object.entries(run.secrets)) {
          // A user name is a credential's public half (the fake's is "orchestrator", like the daemon's database role).
          if (name !== 'killbill_username') assert.ok(!spec.includes(value), `secret ${name} in the spec of ${short}`);
        }
      }
      const env = (await docker.getService(daemonService()).inspect()).Spec.TaskTemplate.ContainerSpec.Env as string[];
      assert.ok(env.includes('POOL_ACCESS_MODE=overlay'));
      assert.ok(!env.some((entry) => /^(DATABASE_URL|REDIS_URL|ADMIN_TOKEN|MASTER_KEY)=/.test(entry)), env.join(' '));
    }));

  it('provisions a pool on the overlay, reached by service name, to ACTIVE', () =>
    withLogs(async () => {
      const started = Date.now();
      const name = `${run.name}-pool`;
      const provisioned = (
        await api(replicas[0]!, PROVISION_POOL, { input: { name, maxInstances: 5, cpuLimit: 0.25, memoryLimit: '256M' } })
      ).provisionPool;
      assert.equal(provisioned.status, 'PROVISIONING');
      // POOL_ACCESS_MODE=overlay: the daemon reaches the pool by its service name, no published port.
      assert.deepEqual([provisioned.host, provisioned.port], [name, 5432]);
      const active = await eventually(
        async () => (await api(replicas[1]!, POOL, { id: provisioned.id })).pool,
        (view) => view.status !== 'PROVISIONING',
        180_000,
        1000,
      );
      assert.equal(active.status, 'ACTIVE', active.statusReason ?? '');
      pool = { id: active.id, name };
      note(`pool ${name} ACTIVE in ${seconds(started)}`);
    }));

  it('creates an instance, provisions it as an admin to RUNNING, and terminates it', () =>
    withLogs(async () => {
      assert.ok(pool, 'needs the pool of the previous test');
      const started = Date.now();
      const created = (await api(replicas[0]!, CREATE_INSTANCE, { input: instanceInput('admin') })).createInstance;
      assert.equal(created.status, 'ALLOCATED', created.error ?? '');
      assert.equal(created.dbHost, pool.name);

      const provisioning = (await api(replicas[1]!, PROVISION, { id: created.id })).provisionInstance;
      assert.equal(provisioning.status, 'PROVISIONING', provisioning.error ?? '');
      const running = await instanceWhen(
        () => replicas[0]!,
        created.id,
        (instance) => instance.status !== 'PROVISIONING',
        180_000,
      );
      assert.equal(running.status, 'RUNNING', running.error ?? '');
      note(`instance ${created.id} RUNNING ${seconds(started)} after createInstance`);

      const terminatedAt = Date.now();
      const terminating = (await api(replicas[0]!, TERMINATE, { id: created.id })).terminateInstance;
      const terminated =
        terminating.status === 'TERMINATED'
          ? terminating
          : await instanceWhen(
              () => replicas[1]!,
              created.id,
              (instance) => instance.status === 'TERMINATED',
              120_000,
            );
      assert.equal(terminated.status, 'TERMINATED', terminated.error ?? '');
      const odooServices = await docker.listServices({ filters: { label: [`odoo-orchestrator.instance-id=${created.id}`] } });
      assert.deepEqual(
        odooServices.map((service) => service.Spec?.Name),
        [],
      );
      note(`instance ${created.id} TERMINATED in ${seconds(terminatedAt)}`);
    }));

  // Leadership (src/jobs/leadership.ts): one replica runs the scheduler, seen as orchestrator_leader on /metrics.
  it('has exactly one leader among the replicas', () =>
    withLogs(async () => {
      const gauges = await eventually(
        () => Promise.all(replicas.map((replica) => leaderGauge(replica, adminToken))),
        (values) => values.filter((value) => value === 1).length === 1 && values.every((value) => value === 0 || value === 1),
        30_000,
      );
      assert.deepEqual([...gauges].sort(), [0, 1]);
    }));

  // The Kill Bill webhook (src/billing) and leader failover together: the notification goes to the follower, the
  // leader's task is killed while the instance it provisions is in flight, and the scheduler carries on elsewhere.
  it('provisions an instance from a Kill Bill notification to RUNNING although the leader is killed meanwhile', () =>
    withLogs(async () => {
      assert.ok(pool, 'needs the pool of an earlier test');
      const started = Date.now();
      const gauges = await Promise.all(replicas.map((replica) => leaderGauge(replica, adminToken)));
      const leader = replicas[gauges.indexOf(1)];
      const follower = replicas[gauges.indexOf(0)];
      assert.ok(leader && follower, `leader gauges ${JSON.stringify(gauges)}`);

      // The subscription's Kill Bill account carries the instance's customer id as its externalKey.
      const input = instanceInput('killbill');
      const subscription = killbill.subscription({ phaseType: 'TRIAL', state: 'ACTIVE', customerId: input.customerId });
      const created = (await api(follower, CREATE_INSTANCE, { input: { ...input, subscriptionId: subscription.subscriptionId } }))
        .createInstance;
      assert.equal(created.status, 'ALLOCATED', created.error ?? '');

      const delivery = await fetch(`${follower.url}/webhooks/killbill?token=${encodeURIComponent(run.secrets.killbill_webhook_token!)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=UTF-8', 'user-agent': 'KillBill/1.0' },
        body: JSON.stringify({
          eventType: 'SUBSCRIPTION_CREATION',
          objectType: 'SUBSCRIPTION',
          objectId: subscription.subscriptionId,
          accountId: subscription.accountId,
          metaData: JSON.stringify({ actionType: 'EFFECTIVE', bundleExternalKey: subscription.bundleExternalKey }),
        }),
      });
      assert.equal(delivery.status, 200, await delivery.clone().text());

      // The follower processes the delivery itself; once the Odoo service exists, the leader tracks it: kill the leader.
      const inFlight = await instanceWhen(
        () => follower,
        created.id,
        (instance) => instance.status !== 'ALLOCATED',
        60_000,
      );
      assert.equal(inFlight.status, 'PROVISIONING', inFlight.error ?? JSON.stringify(killbill.requests));
      assert.ok(
        killbill.requests.some((request) => request.authorized && request.path.endsWith(`/subscriptions/${subscription.subscriptionId}`)),
      );
      const killedAt = Date.now();
      await docker.getContainer(leader.containerId).kill();
      note(`killed the leader's task ${leader.taskId.slice(0, 12)} with instance ${created.id} ${inFlight.status}`);

      // Another replica leads within a few retries (the advisory lock dies with the killed task's connection).
      const successor = await eventually(
        async () => {
          for (const replica of await liveReplicas(daemonService())) {
            if (replica.containerId !== leader.containerId && (await leaderGauge(replica, adminToken)) === 1) return replica;
          }
          return null;
        },
        (replica) => replica !== null,
        60_000,
      );
      assert.ok(successor, 'no other replica took the lead');
      // It took the lead after the kill, as its log says.
      const acquired = (await containerLogs(successor.containerId))
        .split('\n')
        .filter((line) => line.includes('"event":"leader.acquired"'))
        .map((line) => (JSON.parse(line) as { time: number }).time);
      assert.ok(acquired.length > 0, "no leader.acquired in the successor's log");
      const tookOver = Math.max(...acquired);
      assert.ok(
        tookOver >= killedAt,
        `the successor's leader.acquired (${new Date(tookOver).toISOString()}) precedes the kill (${new Date(killedAt).toISOString()})`,
      );
      note(`replica ${successor.taskId.slice(0, 12)} took the lead ${((tookOver - killedAt) / 1000).toFixed(1)}s after the kill`);

      const running = await instanceWhen(
        () => successor,
        created.id,
        (instance) => instance.status !== 'PROVISIONING',
        180_000,
      );
      assert.equal(running.status, 'RUNNING', running.error ?? '');
      note(`instance ${created.id} RUNNING ${seconds(started)} after createInstance`);

      // Swarm replaces the killed task: two healthy replicas again, one leader.
      replicas = await waitForReplicas(daemonService(), 2, 180_000);
      assert.ok(!replicas.some((replica) => replica.containerId === leader.containerId));
      const after = await eventually(
        () => Promise.all(replicas.map((replica) => leaderGauge(replica, adminToken))),
        (values) => values.filter((v) => v === 1).length === 1,
        30_000,
      );
      assert.equal(after.filter((value) => value === 1).length, 1, JSON.stringify(after));
      const failed = (await serviceTasks(daemonService())).filter((task) => task.Status.State === 'failed');
      assert.ok(failed.length >= 1, 'the killed task shows as failed');

      const terminated = (await api(successor, TERMINATE, { id: created.id })).terminateInstance;
      const final =
        terminated.status === 'TERMINATED'
          ? terminated
          : await instanceWhen(
              () => successor,
              created.id,
              (instance) => instance.status === 'TERMINATED',
              120_000,
            );
      assert.equal(final.status, 'TERMINATED', final.error ?? '');
    }));
});
