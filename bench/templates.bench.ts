/**
 * Sign-up to first login on real Odoo (default plan), copied from a pool's ready template beside initialised by the
 * tenant's own init job, in the same run: createInstance + provisionInstance until the admin's first successful JSON-RPC
 * login (the password reset as soon as the API takes it, while the server starts), `runs` tenants one after the other
 * each way (each stopped before the next starts), then 10 sign-ups from the template at once. Also the template's copy by CREATE DATABASE … TEMPLATE with each STRATEGY.
 * Needs scripts/env/odoo-images.sh's local/odoo:<version>. Usage: node --import tsx bench/templates.bench.ts [runs] [version]
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { templateDatabaseName, tenantDatabaseName } from '../src/domain/names.js';
import {
  CREATE_INSTANCE,
  eventually,
  instanceInput,
  registerLocalPool,
  resetState,
  runLabels,
  startTestDaemon,
  withPoolCatalog,
  type TestDaemon,
} from '../test/support/harness.js';
import { instanceWithStatus, PROVISION } from '../test/support/odoo.js';
import { OdooSession, overlayClient, realOdooImage, type OverlayClient } from '../test/support/real-odoo.js';
import { figures } from './tenant-bench.js';

const runs = Number(process.argv[2] ?? 5);
const version = process.argv[3] ?? '17.0';
const AT_ONCE = 10;
const RESET = 'mutation($id: ID!) { resetInstanceAdminPassword(instanceId: $id) { login password } }';
const VIEW = 'query($id: ID!) { instance(id: $id) { status serviceName error templateId } }';
const STOP = 'mutation($id: ID!) { stopInstance(instanceId: $id) { status } }';

const INIT = 'init job: sign-up -> first login';
const COPY = 'template: sign-up -> first login';
const CROWD = `template: ${AT_ONCE} sign-ups at once, each`;
const CROWD_ALL = `template: ${AT_ONCE} sign-ups at once, all`;
const WAL_LOG = 'CREATE DATABASE STRATEGY WAL_LOG';
const FILE_COPY = 'CREATE DATABASE STRATEGY FILE_COPY';
const results = figures([INIT, COPY, CROWD, CROWD_ALL, WAL_LOG, FILE_COPY]);

/**
 * The admin's password, reset as soon as the API takes it, while the server starts (as a sign-up page would): a copy's
 * database is initialised at allocation, the init path's once its job completed.
 */
async function resetOnceAllowed(daemon: TestDaemon, id: string): Promise<{ login: string; password: string }> {
  for (;;) {
    const answer = await daemon.gql(RESET, { id });
    if (!answer.errors) return answer.data.resetInstanceAdminPassword;
    // Not allowed yet, or the tenant's database too busy to let the reset in (ten servers starting): asked again.
    const code: unknown = answer.errors[0]?.extensions?.code;
    if (code !== 'CONFLICT' && code !== 'SERVICE_UNAVAILABLE') throw new Error(JSON.stringify(answer.errors));
    await sleep(200);
  }
}

/** One sign-up to its admin's first login; answers how long it took and the instance. */
async function signUp(daemon: TestDaemon, client: OverlayClient, fromTemplate: boolean): Promise<{ ms: number; id: string }> {
  const start = performance.now();
  const created = await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ odooVersion: version }) });
  if (created.errors) throw new Error(JSON.stringify(created.errors));
  const id = created.data.createInstance.id as string;
  await daemon.gql(PROVISION, { id });
  const [running, admin] = await Promise.all([
    instanceWithStatus<any>(daemon, id, 'RUNNING', { query: VIEW, timeoutMs: 600_000 }),
    resetOnceAllowed(daemon, id),
  ]);
  if ((running.templateId !== null) !== fromTemplate) throw new Error(`instance ${id}: templateId ${running.templateId}`);
  const odoo = new OdooSession(client, `http://${running.serviceName}:8069`, tenantDatabaseName(id));
  // Ten Odoo servers starting on two cores may drop a connection (a worker recycled): the login is tried until it answers.
  const deadline = Date.now() + 300_000;
  while ((await odoo.login(admin.login, admin.password).catch(() => null)) !== 2) {
    if (Date.now() > deadline) throw new Error(`instance ${id}: no login within 300 s`);
    await sleep(200);
  }
  return { ms: performance.now() - start, id };
}

/**
 * Stops the tenant and waits until it is STOPPED: an Odoo stopping spends seconds of CPU freeing its memory, which the
 * next sign-up, measured one after the other on a quiet machine, must not share. The crowd measures contention.
 */
async function stopped(daemon: TestDaemon, id: string): Promise<void> {
  await daemon.gql(STOP, { id });
  await instanceWithStatus(daemon, id, 'STOPPED', { timeoutMs: 120_000 });
}

async function withDaemon(templates: boolean, work: (daemon: TestDaemon, client: OverlayClient) => Promise<void>): Promise<void> {
  const daemon = await startTestDaemon({
    LOG_LEVEL: 'warn',
    ODOO_IMAGES: `${version}=${realOdooImage(version)}`,
    ODOO_TEMPLATES: templates ? 'on' : 'off',
    TEMPLATE_CRON: '* * * * * *',
  });
  await resetState(daemon.deps);
  await registerLocalPool(daemon, 'bench-pool', 50);
  const client = await overlayClient(daemon.deps.docker, daemon.deps.config.swarmNetwork, realOdooImage(version), runLabels);
  try {
    await work(daemon, client);
  } catch (error) {
    // What the daemon warned of says why a sign-up failed; its answer only says it did.
    for (const line of daemon.logs) if ((JSON.parse(line) as { level: number }).level >= 40) console.error(line);
    throw error;
  } finally {
    await client.remove();
    await resetState(daemon.deps);
    await daemon.stop();
  }
}

/** What was measured so far, also when a later part fails. */
function report(): void {
  results.print(`Odoo ${version} on the default plan (1 CPU, 1 GiB), ${runs} each one after the other: p50 / min / max`);
  const baseline = results.p50(INIT);
  console.log(
    `template path: ${results.ratio(COPY, baseline)} of the init path; ${AT_ONCE} at once: ${results.ratio(CROWD, baseline)} each (p50)`,
  );
}
process.on('exit', report);

await withDaemon(false, async (daemon, client) => {
  for (let index = 0; index < runs; index++) {
    const { ms, id } = await signUp(daemon, client, false);
    results.record(INIT, ms);
    await stopped(daemon, id);
    process.stderr.write(`init path: ${index + 1}/${runs}, ${(ms / 1000).toFixed(2)} s\n`);
  }
});

await withDaemon(true, async (daemon, client) => {
  type Template = { id: string; status: string; error: string | null };
  const found = await eventually(
    async () => (await daemon.gql('{ templates { id status error } }')).data.templates[0] as Template | undefined,
    (value) => value !== undefined && value.status !== 'BUILDING',
    900_000,
    500,
  );
  const template = found!;
  if (template.status !== 'READY') throw new Error(`template ${template.status}: ${template.error}`);
  for (let index = 0; index < runs; index++) {
    const { ms, id } = await signUp(daemon, client, true);
    results.record(COPY, ms);
    await stopped(daemon, id);
    process.stderr.write(`template path: ${index + 1}/${runs}, ${(ms / 1000).toFixed(2)} s\n`);
  }
  // The copy alone, as the pool admin, one strategy after the other: the database the template path starts from.
  for (let index = 0; index < runs; index++) {
    for (const [name, strategy] of [
      [WAL_LOG, 'wal_log'],
      [FILE_COPY, 'file_copy'],
    ] as const) {
      const copy = `bench_copy_${strategy}`;
      await withPoolCatalog(async (admin) => {
        const copyStart = performance.now();
        await admin.query(`create database ${copy} template ${templateDatabaseName(template.id)} strategy ${strategy}`);
        results.record(name, performance.now() - copyStart);
        await admin.query(`drop database ${copy}`);
      });
    }
  }

  const start = performance.now();
  const crowd = await Promise.all(Array.from({ length: AT_ONCE }, () => signUp(daemon, client, true)));
  results.record(CROWD_ALL, performance.now() - start);
  for (const { ms } of crowd) results.record(CROWD, ms);
  await Promise.all(crowd.map(({ id }) => daemon.gql(STOP, { id })));
});
