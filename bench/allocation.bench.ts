/**
 * Allocation and tracking against baselines measured in the same run, on the same servers:
 * - one sign-up at a time: createInstance (over GraphQL, and called in process) against the same DDL on a kept
 *   admin connection;
 * - 16 sign-ups at once: the daemon against 16 clients doing the bare DDL, on one pool, then on two pools on two
 *   PostgreSQL servers (the second one a cluster this bench makes and removes), in alternating rounds, each side's
 *   connections open before its clock starts;
 * - the tracking tick with 100 instances in flight against the bare task listing of their services.
 * The control connection runs with lock_timeout=5s, as production would: a caller failing on it is counted.
 * Sign-ups go over HTTP to a daemon in a process of its own, as deployed: the bench's own work as a client (fetch,
 * JSON) does not run on the daemon's event loop. The daemon in this process serves the in-process calls and set-up.
 * Each sign-up is a new customer's, as sign-ups are: one customer's requests queue behind one another by design.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { generatePassword, scramSha256VerifierAsync } from '../src/crypto/passwords.js';
import { createInstance } from '../src/domain/instances/instances.js';
import { dropTenantDatabase, type TenantDatabase } from '../src/db/pool-server.js';
import { trackInstances } from '../src/jobs/instance-tracking.js';
import { instanceLabels, managedLabels } from '../src/swarm/labels.js';
import { createService, listTasks } from '../src/swarm/swarm.js';
import {
  CREATE_INSTANCE,
  REGISTER_POOL,
  instanceInput,
  localPool,
  resetState,
  graphqlClient,
  startTestDaemon,
  testDaemonEnv,
  type TestDaemon,
} from '../test/support/harness.js';
import { startDaemonProcess } from '../test/support/daemon-process.js';
import { startSecondServer, type SecondServer } from './second-server.js';

const LATENCY_RUNS = Number(process.env.BENCH_LATENCY_RUNS ?? 40);
const WARM_UP_RUNS = 10;
const CALLERS = 16;
const SIGNUPS = 96;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const IN_FLIGHT = 100;
const TICKS = 30;
const SECOND_SERVER_PORT = Number(process.env.BENCH_SECOND_PG_PORT ?? 5499);

interface Server {
  host: string;
  port: number;
  adminUser: string;
  adminPassword: string;
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
const p50 = (values: number[]) => quantile(values, 0.5);
const ms = (value: number) => `${value.toFixed(1).padStart(7)} ms`;
const log = (line: string) => process.stderr.write(`${line}\n`);

const withLockTimeout = (url: string) => `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent('-c lock_timeout=5s')}`;

async function connectAdmin(server: Server, database = 'postgres'): Promise<pg.Client> {
  const client = new pg.Client({
    host: server.host,
    port: server.port,
    user: server.adminUser,
    password: server.adminPassword,
    database,
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function registerPool(daemon: TestDaemon, name: string, server: Server): Promise<void> {
  const result = await daemon.gql(REGISTER_POOL, { input: { name, maxInstances: 5000, ...server } });
  if (!result.data?.registerPool) throw new Error(`registerPool ${name} failed: ${JSON.stringify(result.errors)}`);
}

/** Runs `total` calls of `call` by `callers` concurrent loops; returns calls per second and the failures. */
async function concurrently(callers: number, total: number, call: (caller: number, n: number) => Promise<void>) {
  let issued = 0;
  const failures: string[] = [];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async (_, caller) => {
      while (issued < total) {
        const n = issued++;
        await call(caller, n).catch((error: unknown) => void failures.push((error as Error).message));
      }
    }),
  );
  return { perSecond: total / ((performance.now() - start) / 1000), failures };
}

/** The daemon the sign-ups go to: its GraphQL client. */
type Served = TestDaemon['gql'];

/** A sign-up is a new customer's first instance. */
const signUpInput = () => instanceInput({ customerId: randomUUID() });

async function signUp(served: Served): Promise<void> {
  const result = await served(CREATE_INSTANCE, { input: signUpInput() });
  const status = result.data?.createInstance?.status;
  if (status !== 'ALLOCATED') throw new Error(`sign-up ended ${status ?? JSON.stringify(result.errors)}`);
}

const bareTenant = (n: number) => ({ database: `bench_bare_${n}`, role: `bench_bare_${n}_user` });

/**
 * The bare DDL the daemon's allocation is measured against: the statements that make a database as Odoo makes its own
 * (createOdooDatabase), sent as tightly as a hand-written client would: CREATE ROLE with a password (its SCRAM verifier
 * derived here) and the GRANT in one round trip; CREATE DATABASE (template0, UTF8, LC_COLLATE C); then at once the
 * REVOKE and, on a new connection into the new database, pg_trgm created by its owner.
 */
async function bareDdl(client: pg.Client, server: Server, tenant: TenantDatabase): Promise<void> {
  const verifier = await scramSha256VerifierAsync(generatePassword());
  const role = client.escapeIdentifier(tenant.role);
  const database = client.escapeIdentifier(tenant.database);
  await client.query(
    `create role ${role} with login password ${client.escapeLiteral(verifier)} connection limit 10; grant ${role} to current_user`,
  );
  await client.query(`create database ${database} owner ${role} template template0 encoding 'UTF8' lc_collate 'C'`);
  await Promise.all([
    client.query(`revoke all on database ${database} from public; grant connect, temporary on database ${database} to ${role}`),
    (async () => {
      const inside = await connectAdmin(server, tenant.database);
      try {
        await inside.query(`set role ${role}; create extension if not exists pg_trgm; reset role`);
      } finally {
        await inside.end();
      }
    })(),
  ]);
}

/** The bare DDL by `clients` kept connections spread over `servers`; what they made is dropped afterwards. */
async function bareThroughput(servers: Server[], total: number) {
  const serverOf = (caller: number) => servers[caller % servers.length]!;
  const clients = await Promise.all(Array.from({ length: CALLERS }, (_, caller) => connectAdmin(serverOf(caller))));
  const made: { client: pg.Client; n: number }[] = [];
  const result = await concurrently(CALLERS, total, async (caller, n) => {
    const client = clients[caller]!;
    await bareDdl(client, serverOf(caller), bareTenant(n));
    made.push({ client, n });
  });
  for (const { client, n } of made) await dropTenantDatabase(client, bareTenant(n));
  await Promise.all(clients.map((client) => client.end()));
  return result;
}

/**
 * SIGNUPS sign-ups by CALLERS concurrent callers against as many bare DDL runs by CALLERS clients, in ROUNDS rounds
 * whose order alternates, so that a change in what else the machine does weighs on both sides alike.
 */
async function throughputRounds(daemon: TestDaemon, served: Served, servers: Server[], poolNames: string[]) {
  const totals = { daemon: { calls: 0, seconds: 0, failures: [] as string[] }, bare: { calls: 0, seconds: 0 } };
  const spread = new Map<string, number>();
  const poolCounts = async () =>
    new Map(
      (await daemon.deps.db.selectFrom('db_servers').select(['name', 'current_instances']).execute()).map((pool) => [
        pool.name,
        pool.current_instances,
      ]),
    );
  const runDaemon = async () => {
    for (const [i, name] of poolNames.entries()) await registerPool(daemon, name, servers[i]!);
    // The bare clients connect before their clock starts; the daemon opens its kept admin connections (to pools
    // registered afresh each round) before its own: a sign-up per caller, untimed.
    const warmUp = await concurrently(CALLERS, CALLERS, () => signUp(served));
    const before = await poolCounts();
    const result = await concurrently(CALLERS, SIGNUPS, () => signUp(served));
    log(`  daemon ${result.perSecond.toFixed(1)}/s`);
    totals.daemon.calls += SIGNUPS;
    totals.daemon.seconds += SIGNUPS / result.perSecond;
    totals.daemon.failures.push(...warmUp.failures, ...result.failures);
    for (const [name, count] of await poolCounts()) spread.set(name, (spread.get(name) ?? 0) + count - (before.get(name) ?? 0));
    await resetState(daemon.deps);
  };
  const runBare = async () => {
    const result = await bareThroughput(servers, SIGNUPS);
    log(`  bare DDL ${result.perSecond.toFixed(1)}/s`);
    totals.bare.calls += SIGNUPS;
    totals.bare.seconds += SIGNUPS / result.perSecond;
  };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? [runDaemon, runBare] : [runBare, runDaemon];
    for (const run of order) await run();
  }
  return {
    daemon: { perSecond: totals.daemon.calls / totals.daemon.seconds, failures: totals.daemon.failures },
    bare: { perSecond: totals.bare.calls / totals.bare.seconds },
    spread: [...spread]
      .sort()
      .map(([name, count]) => `${name} ${count}`)
      .join(', '),
  };
}

async function latency(daemon: TestDaemon, served: Served) {
  const daemonMs: number[] = [];
  const domainMs: number[] = [];
  const bareMs: number[] = [];
  const client = await connectAdmin(localPool);
  // Alternating runs share whatever else the machine is doing. The first ones warm up: a daemon that has been
  // serving for a while runs code V8 has compiled, not the cold paths of a fresh start.
  for (let run = -WARM_UP_RUNS; run < LATENCY_RUNS; run++) {
    let start = performance.now();
    await signUp(served);
    if (run >= 0) daemonMs.push(performance.now() - start);
    // The same call without HTTP and GraphQL: what allocation itself adds.
    start = performance.now();
    const created = await createInstance(daemon.deps, signUpInput());
    if (created.status !== 'ALLOCATED') throw new Error(`sign-up ended ${created.status}`);
    if (run >= 0) domainMs.push(performance.now() - start);
    start = performance.now();
    await bareDdl(client, localPool, bareTenant(100_000 + run));
    if (run >= 0) bareMs.push(performance.now() - start);
  }
  for (let run = -WARM_UP_RUNS; run < LATENCY_RUNS; run++) await dropTenantDatabase(client, bareTenant(100_000 + run));
  await client.end();
  return { daemonMs, domainMs, bareMs };
}

/** 100 real Swarm services, each with a task that stays pending (no node fits it): tasks to list, no containers. */
async function instancesInFlight(daemon: TestDaemon): Promise<void> {
  const { deps } = daemon;
  const rows = await deps.db
    .insertInto('instances')
    .values(
      Array.from({ length: IN_FLIGHT }, (_, i) => ({
        customer_id: instanceInput().customerId,
        name: `In flight ${i}`,
        subdomain: `bench-flight-${process.pid}-${i}`,
        odoo_version: '17.0',
        admin_email: 'bench@example.com',
        cpu_limit: 0.1,
        memory_limit_mb: 256,
        status: 'PROVISIONING' as const,
      })),
    )
    .returning(['id', 'subdomain'])
    .execute();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < rows.length) {
        const row = rows[next++]!;
        const serviceId = await createService(deps.docker, {
          Name: row.subdomain,
          Labels: instanceLabels(row.id, deps.config.dockerLabels),
          TaskTemplate: {
            ContainerSpec: { Image: deps.config.odooImages['17.0']! },
            Placement: { Constraints: ['node.labels.bench-never==true'] },
          },
          Mode: { Replicated: { Replicas: 1 } },
          EndpointSpec: { Mode: 'dnsrr' },
        });
        await deps.db
          .updateTable('instances')
          .set({ service_id: serviceId, service_name: row.subdomain })
          .where('id', '=', row.id)
          .execute();
      }
    }),
  );
}

async function tracking(daemon: TestDaemon) {
  const { deps } = daemon;
  await instancesInFlight(daemon);
  const labels = managedLabels(deps.config.dockerLabels);
  // Swarm makes the pending tasks shortly after the services.
  for (let i = 0; i < 100 && (await listTasks(deps.docker, labels)).length < IN_FLIGHT; i++)
    await new Promise((resolve) => setTimeout(resolve, 100));
  const tickMs: number[] = [];
  const listMs: number[] = [];
  for (let run = -3; run < TICKS; run++) {
    let start = performance.now();
    await trackInstances(deps);
    if (run >= 0) tickMs.push(performance.now() - start);
    start = performance.now();
    await listTasks(deps.docker, labels);
    if (run >= 0) listMs.push(performance.now() - start);
  }
  const stillInFlight = await deps.db.selectFrom('instances').select('id').where('status', '=', 'PROVISIONING').execute();
  const tasks = (await listTasks(deps.docker, labels)).length;
  return { tickMs, listMs, stillInFlight: stillInFlight.length, tasks };
}

const daemonEnv = {
  LOG_LEVEL: 'warn',
  DATABASE_URL: withLockTimeout(process.env.DATABASE_URL!),
  // The bench drives tracking itself; the scheduler's own tick would run beside the measured ones.
  PROVISION_TRACKING_CRON: '0 0 1 1 *',
};
const daemon = await startTestDaemon(daemonEnv);
// At the level it ships with (info): its log lines are part of its cost.
const daemonProcess = await startDaemonProcess(testDaemonEnv({ ...daemonEnv, LOG_LEVEL: 'info' }));
const served = graphqlClient(daemonProcess.url, daemon.deps.config.adminToken);
let second: SecondServer | null = null;
try {
  await resetState(daemon.deps);
  await registerPool(daemon, 'bench-a', localPool);

  log('latency: one sign-up at a time');
  const single = await latency(daemon, served);
  await resetState(daemon.deps);

  log(`throughput: ${CALLERS} callers, one pool`);
  const onePool = await throughputRounds(daemon, served, [localPool], ['bench-a']);

  log(`throughput: ${CALLERS} callers, two pools on two servers`);
  second = startSecondServer(SECOND_SERVER_PORT);
  const twoPools = await throughputRounds(daemon, served, [localPool, second], ['bench-a', 'bench-b']);

  log(`tracking: ${IN_FLIGHT} instances in flight`);
  const tick = await tracking(daemon);
  await resetState(daemon.deps);

  const failures = [...onePool.daemon.failures, ...twoPools.daemon.failures];
  console.log(
    `\nallocation bench (${LATENCY_RUNS} single runs; ${ROUNDS} rounds of ${SIGNUPS} sign-ups by ${CALLERS} callers; ${TICKS} ticks)`,
  );
  console.log(
    `allocation p50: createInstance (daemon process) ${ms(p50(single.daemonMs))}   bare DDL, kept connection ${ms(p50(single.bareMs))}   (p90 ${ms(quantile(single.daemonMs, 0.9))} / ${ms(quantile(single.bareMs, 0.9))})`,
  );
  console.log(`  the same, called in process (no HTTP, no GraphQL) ${ms(p50(single.domainMs))}`);
  console.log(
    `throughput, one pool:            daemon ${onePool.daemon.perSecond.toFixed(1).padStart(6)}/s   bare DDL ${onePool.bare.perSecond.toFixed(1).padStart(6)}/s`,
  );
  console.log(
    `throughput, two pools, 2 servers: daemon ${twoPools.daemon.perSecond.toFixed(1).padStart(6)}/s   bare DDL ${twoPools.bare.perSecond.toFixed(1).padStart(6)}/s   (spread: ${twoPools.spread})`,
  );
  console.log(
    `tracking tick p50, ${IN_FLIGHT} in flight: ${ms(p50(tick.tickMs))}   bare task listing ${ms(p50(tick.listMs))}   (${tick.tasks} tasks; ${tick.stillInFlight} still in flight after)`,
  );
  console.log(
    `callers failed under lock_timeout=5s: ${failures.length}${failures.length ? ` (${[...new Set(failures)].slice(0, 3).join('; ')})` : ''}`,
  );
  console.log('\nratios (goal)');
  console.log(`allocation p50 / bare DDL p50            ${(p50(single.daemonMs) / p50(single.bareMs)).toFixed(2)}   (at most 1.3)`);
  console.log(`  the same, called in process / bare DDL   ${(p50(single.domainMs) / p50(single.bareMs)).toFixed(2)}`);
  console.log(
    `throughput one pool, daemon / bare       ${(onePool.daemon.perSecond / onePool.bare.perSecond).toFixed(2)}   (at least 0.7)`,
  );
  console.log(
    `throughput two pools, daemon / bare      ${(twoPools.daemon.perSecond / twoPools.bare.perSecond).toFixed(2)}   (at least 0.7)`,
  );
  console.log(`tracking tick p50 / task listing p50     ${(p50(tick.tickMs) / p50(tick.listMs)).toFixed(2)}   (at most 1.5)`);
} finally {
  await resetState(daemon.deps).catch((error: unknown) => log(`cleanup: ${(error as Error).message}`));
  second?.remove();
  await daemonProcess.stop();
  await daemon.stop();
}
