/**
 * Stops, restarts and freezes the real services under a running daemon process. Other suites share these services,
 * so in `npm test` this one waits until it runs alone (holdExclusive). Every fault is undone in a `finally`,
 * whatever the assertions say.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { closeDeps } from '../src/daemon.js';
import type { Deps } from '../src/deps.js';
import { projectRoot } from '../src/project-root.js';
import { assertStillUp, daemonHttp, localDeps, startDaemonProcess, type DaemonProcess } from './support/daemon-process.js';
import { holdExclusive } from './support/isolation.js';
import { CREATE_INSTANCE, instanceInput, localPool, REGISTER_POOL, resetState, runLabels, scrapeMetrics } from './support/harness.js';

const DOCKER_TIMEOUT_MS = 3000;
const WEBHOOK_TOKEN = `faults-webhook-${randomUUID()}`;
const dockerLabels = Object.entries(runLabels)
  .map(([key, value]) => `${key}=${value}`)
  .join(',');
const pgVersion = readdirSync('/usr/lib/postgresql')
  .sort((a, b) => Number(a) - Number(b))
  .at(-1)!;

/** A pool server that can go away and come back: a TCP relay in front of the local PostgreSQL. */
function poolRelay() {
  let server: Server | null = null;
  const sockets = new Set<Socket>();
  let port = 0;
  const up = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(5432, '127.0.0.1');
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
          socket.on('error', () => undefined);
        }
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  const down = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      if (server) server.close(() => resolve());
      else resolve();
      server = null;
    });
  return { up, down, port: () => port };
}

const sh = (command: string, args: string[]) => execFileSync(command, args, { stdio: 'pipe', timeout: 120_000 }).toString();
const redisStop = () => sh('redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'shutdown']);
const redisStart = () => sh('bash', [join(projectRoot, 'scripts/env/redis.sh')]);
const postgresStop = () => sh('pg_ctlcluster', [pgVersion, 'main', 'stop', '-m', 'fast']);
const postgresStart = () => sh('pg_ctlcluster', [pgVersion, 'main', 'start']);
const dockerdPid = () => readFileSync('/var/run/docker.pid', 'utf8').trim();

interface Timed<T> {
  value: T;
  ms: number;
}
const timed = async <T>(work: () => Promise<T>): Promise<Timed<T>> => {
  const started = Date.now();
  const value = await work();
  return { value, ms: Date.now() - started };
};

describe('dependencies fail, the daemon stays', () => {
  let daemon: DaemonProcess;
  let local: Deps;
  const { gql, readyz } = daemonHttp(() => daemon);
  /** Polls /readyz from the moment the service is back; the time until it says ready. */
  const recovery = async () =>
    timed(async () => {
      for (let deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(100)) {
        const ready = await readyz().catch(() => null);
        if (ready?.status === 200) return ready;
      }
      throw new Error('not ready a minute after the service came back');
    });
  const stillUp = () => assertStillUp(daemon);
  const metricsAnswer = async () => (await scrapeMetrics(daemon.url, AbortSignal.timeout(10_000))).status;

  before(async () => {
    local = await localDeps(dockerLabels);
    daemon = await startDaemonProcess({
      DOCKER_LABELS: dockerLabels,
      DOCKER_TIMEOUT_MS: String(DOCKER_TIMEOUT_MS),
      LEADER_RETRY_MS: '500',
      KILLBILL_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
    });
    // Set up beside the other suites (this slot's own state); no fault starts before the services are ours alone.
    await holdExclusive();
    const registered = await gql(REGISTER_POOL, { input: { name: 'pool-faults', maxInstances: 10, ...localPool } });
    assert.equal(registered.errors, undefined, JSON.stringify(registered.errors));
  });
  after(async () => {
    await daemon?.stop();
    await resetState(local).catch(() => undefined);
    await closeDeps(local);
  });

  it('Redis stops: createInstance fails fast with SERVICE_UNAVAILABLE, nothing half-made, all works once it is back', async () => {
    const input = instanceInput();
    let recovered: Timed<unknown>;
    let restart: Timed<unknown>;
    try {
      redisStop();
      await sleep(3000); // the scheduler and the reconnect attempts run meanwhile
      const ready = await readyz();
      assert.equal(ready.status, 503);
      assert.equal(ready.body.postgres, 'ok');
      assert.notEqual(ready.body.redis, 'ok');
      const failed = await timed(() => gql(CREATE_INSTANCE, { input }));
      assert.equal(failed.value.errors?.[0]?.extensions?.code, 'SERVICE_UNAVAILABLE', JSON.stringify(failed.value.errors));
      assert.match(failed.value.errors[0].message, /redis/);
      console.log(`redis down: readyz ${JSON.stringify(ready.body)}; createInstance failed in ${failed.ms} ms`);
      const rows = await local.db
        .selectFrom('instances')
        .select(['status', 'db_server_id'])
        .where('subdomain', '=', input.subdomain)
        .execute();
      assert.deepEqual(rows, [{ status: 'CREATING', db_server_id: null }], 'no allocation recorded without its credentials');
      const pool = await local.db.selectFrom('db_servers').select('current_instances').executeTakeFirstOrThrow();
      assert.equal(pool.current_instances, 0, 'the slot was not taken');
      assert.equal(await metricsAnswer(), 200);
      await stillUp();
    } finally {
      restart = await timed(async () => redisStart());
      recovered = await recovery();
    }
    console.log(`redis back (start took ${restart.ms} ms): ready again after ${recovered.ms} ms`);
    const retried = await timed(() => gql(CREATE_INSTANCE, { input }));
    assert.equal(retried.value.errors, undefined, JSON.stringify(retried.value.errors));
    assert.equal(retried.value.data.createInstance.status, 'ALLOCATED');
    await stillUp();
  });

  it('the control PostgreSQL restarts: calls fail fast, /metrics answers, leadership and service come back by themselves', async () => {
    let recovered: Timed<unknown>;
    let restart: Timed<unknown>;
    const lostBefore = daemon.lines.filter((line) => line.event === 'leader.lost').length;
    try {
      postgresStop();
      await sleep(2000);
      const ready = await readyz();
      assert.equal(ready.status, 503);
      assert.notEqual(ready.body.postgres, 'ok');
      assert.equal(ready.body.redis, 'ok');
      const failed = await timed(() => gql('{ pools { id } }'));
      assert.equal(failed.value.errors?.[0]?.extensions?.code, 'SERVICE_UNAVAILABLE', JSON.stringify(failed.value.errors));
      assert.match(failed.value.errors[0].message, /postgres/);
      const metrics = await timed(metricsAnswer);
      assert.equal(metrics.value, 200, '/metrics never fails for the database');
      console.log(
        `postgres down: readyz ${JSON.stringify(ready.body)}; a query failed in ${failed.ms} ms; /metrics answered 200 in ${metrics.ms} ms`,
      );
      await stillUp();
      assert.ok(daemon.lines.filter((line) => line.event === 'leader.lost').length > lostBefore, 'the leader saw its connection go');
    } finally {
      restart = await timed(async () => postgresStart());
      recovered = await recovery();
    }
    const served = await timed(async () => {
      for (;;) {
        const result = await gql('{ pools { name } }');
        if (!result.errors) return result;
        await sleep(100);
      }
    });
    assert.deepEqual(served.value.data.pools, [{ name: 'pool-faults' }]);
    const leading = await timed(async () => {
      for (let deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(100)) {
        if ((await (await fetch(`${daemon.url}/healthz`)).json()).leader) return true;
      }
      return false;
    });
    assert.ok(leading.value, 'the replica leads again');
    console.log(
      `postgres back (pg_ctlcluster start took ${restart.ms} ms): ready after ${recovered.ms} ms, first query served ${served.ms} ms later, leader again after ${leading.ms} ms more`,
    );
    await stillUp();
  });

  it('dockerd freezes: Docker calls time out with SERVICE_UNAVAILABLE, other calls answer, nothing half-made, then it all resumes', async () => {
    const created = await gql(CREATE_INSTANCE, { input: instanceInput() });
    const id = created.data.createInstance.id as string;
    const provision = `mutation { provisionInstance(instanceId: "${id}") { status serviceName } }`;
    let recovered: Timed<unknown>;
    const pid = dockerdPid();
    try {
      sh('kill', ['-STOP', pid]);
      const account = randomUUID();
      const [failed, read, ready, webhook] = await Promise.all([
        timed(() => gql(provision)),
        timed(async () => {
          await sleep(300); // while provisioning waits on Docker with the row locked
          return gql(`{ instance(id: "${id}") { status } pools { name } }`);
        }),
        timed(async () => {
          await sleep(300);
          return readyz();
        }),
        timed(async () => {
          await sleep(300);
          const body = JSON.stringify({
            eventType: 'ACCOUNT_CHANGE',
            objectType: 'ACCOUNT',
            objectId: account,
            accountId: account,
            metaData: null,
          });
          const response = await fetch(`${daemon.url}/webhooks/killbill?token=${WEBHOOK_TOKEN}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
          });
          return response.status;
        }),
      ]);
      assert.equal(webhook.value, 200, 'the webhook records deliveries while Docker is frozen');
      assert.equal(failed.value.errors?.[0]?.extensions?.code, 'SERVICE_UNAVAILABLE', JSON.stringify(failed.value.errors));
      assert.match(failed.value.errors[0].message, /docker/);
      assert.ok(failed.ms < 60_000);
      assert.equal(read.value.errors, undefined, JSON.stringify(read.value.errors));
      assert.equal(read.value.data.instance.status, 'ALLOCATED');
      assert.equal(ready.value.status, 503);
      assert.notEqual(ready.value.body.docker, 'ok');
      assert.equal(ready.value.body.postgres, 'ok');
      const row = await local.db.selectFrom('instances').select(['status', 'service_id']).where('id', '=', id).executeTakeFirstOrThrow();
      assert.deepEqual(row, { status: 'ALLOCATED', service_id: null }, 'the instance stays as it was');
      console.log(
        `dockerd frozen: provisionInstance failed in ${failed.ms} ms (DOCKER_TIMEOUT_MS=${DOCKER_TIMEOUT_MS}); a read answered in ${read.ms} ms, the webhook in ${webhook.ms} ms; readyz ${JSON.stringify(ready.value.body)} in ${ready.ms} ms`,
      );
      await stillUp();
    } finally {
      sh('kill', ['-CONT', pid]);
      recovered = await recovery();
    }
    console.log(`dockerd thawed: ready again after ${recovered.ms} ms`);
    const provisioned = await timed(() => gql(provision));
    assert.equal(provisioned.value.errors, undefined, JSON.stringify(provisioned.value.errors));
    assert.equal(provisioned.value.data.provisionInstance.status, 'PROVISIONING');
    await stillUp();
  });

  it('a pool server goes away: the instance waits naming it, and is allocated there once it is back', async () => {
    const relay = poolRelay();
    await relay.up();
    try {
      const pools = (await gql('{ pools { id name } }')).data.pools as { id: string; name: string }[];
      for (const pool of pools) await gql(`mutation { updatePool(id: "${pool.id}", input: { maintenance: true }) { id } }`);
      const registered = await gql(REGISTER_POOL, {
        input: { ...localPool, host: '127.0.0.1', port: relay.port(), name: 'pool-relayed', maxInstances: 5 },
      });
      assert.equal(registered.errors, undefined, JSON.stringify(registered.errors));
      await relay.down();
      const created = await timed(() => gql(CREATE_INSTANCE, { input: instanceInput() }));
      assert.equal(created.value.errors, undefined, JSON.stringify(created.value.errors));
      const instance = created.value.data.createInstance;
      assert.equal(instance.status, 'WAITING_FOR_DATABASE');
      assert.match(instance.error, /pool-relayed/);
      console.log(`pool server down: createInstance answered WAITING_FOR_DATABASE in ${created.ms} ms (${instance.error})`);
      await relay.up();
      const allocated = await timed(() => gql(`mutation { allocateDatabase(instanceId: "${instance.id}") { dbServerId } }`));
      assert.equal(allocated.value.errors, undefined, JSON.stringify(allocated.value.errors));
      assert.equal(allocated.value.data.allocateDatabase.dbServerId, registered.data.registerPool.id);
      console.log(`pool server back: allocated there in ${allocated.ms} ms`);
      await stillUp();
    } finally {
      await relay.down();
    }
  });
});
