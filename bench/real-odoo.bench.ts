/**
 * Real Odoo on the default plan (1 CPU, 1 GiB), beside the stand-in measured in the same run: from provisionInstance to
 * the first successful JSON-RPC login of the tenant's admin (the init job, the server's start, the admin password reset
 * and Odoo's answer), and each tenant's resident memory once idle. Needs scripts/env/odoo-images.sh's local/odoo:<version>.
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { tenantDatabaseName } from '../src/domain/names.js';
import type { SwarmTask } from '../src/swarm/docker-types.js';
import { CREATE_INSTANCE, instanceInput, registerLocalPool, resetState, runLabels, startTestDaemon } from '../test/support/harness.js';
import { instanceWithStatus, PROVISION } from '../test/support/odoo.js';
import { OdooSession, overlayClient, realOdooImage, run } from '../test/support/real-odoo.js';

const runs = Number(process.argv[2] ?? 5);
const RESET = 'mutation($id: ID!) { resetInstanceAdminPassword(instanceId: $id) { login password } }';
const VIEW = 'query($id: ID!) { instance(id: $id) { status serviceName error } }';
/** How long a tenant sits after its first login before its memory is read. */
const IDLE_MS = 15_000;

/** The resident memory of the task's container (cgroup v1 `total_rss`; `docker stats` where that is not readable). */
async function residentMib(containerId: string): Promise<number> {
  const stat = await readFile(`/sys/fs/cgroup/memory/docker/${containerId}/memory.stat`, 'utf8').catch(() => null);
  const rss = stat && /^total_rss (\d+)$/m.exec(stat);
  if (rss) return Number(rss[1]) / 2 ** 20;
  const usage = await run('docker', ['stats', '--no-stream', '--format', '{{.MemUsage}}', containerId]);
  return Number.parseFloat(usage);
}

interface Sample {
  loginMs: number;
  idleMib: number;
}

async function measure(label: string, version: string, image: string): Promise<Sample[]> {
  const daemon = await startTestDaemon({ LOG_LEVEL: 'warn', ODOO_IMAGES: `${version}=${image}` });
  await resetState(daemon.deps);
  await registerLocalPool(daemon, 'bench-pool', 50);
  const client = await overlayClient(daemon.deps.docker, daemon.deps.config.swarmNetwork, realOdooImage('17.0'), runLabels);
  const samples: Sample[] = [];
  try {
    for (let index = 0; index < runs; index++) {
      const id = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ odooVersion: version }) })).data.createInstance.id;
      const start = performance.now();
      await daemon.gql(PROVISION, { id });
      const running = await instanceWithStatus<any>(daemon, id, 'RUNNING', { query: VIEW, timeoutMs: 300_000 });
      const admin = (await daemon.gql(RESET, { id })).data.resetInstanceAdminPassword;
      const odoo = new OdooSession(client, `http://${running.serviceName}:8069`, tenantDatabaseName(id));
      while ((await odoo.login(admin.login, admin.password)) !== 2) await sleep(200);
      const loginMs = performance.now() - start;

      await sleep(IDLE_MS);
      const tasks = (await daemon.deps.docker.listTasks({
        filters: { service: [running.serviceName], 'desired-state': ['running'] },
      })) as SwarmTask[];
      const containerId = tasks.find((task) => task.Status.State === 'running')?.Status.ContainerStatus?.ContainerID;
      if (!containerId) throw new Error(`no running container for ${running.serviceName}`);
      samples.push({ loginMs, idleMib: await residentMib(containerId) });
      // Stopped before the next one starts, so each is measured on a machine no busier than the first.
      await daemon.gql('mutation($id: ID!) { stopInstance(instanceId: $id) { status } }', { id });
      process.stderr.write(`${label}: run ${index + 1}/${runs} done\n`);
    }
  } finally {
    await client.remove();
    await resetState(daemon.deps);
    await daemon.stop();
  }
  return samples;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const standinImage = process.env.ODOO_IMAGE ?? 'local/odoo-standin:17.0';
const results: [string, Sample[]][] = [['stand-in 17.0', await measure('stand-in 17.0', '17.0', standinImage)]];
for (const version of ['17.0', '18.0'])
  results.push([`Odoo ${version}`, await measure(`Odoo ${version}`, version, realOdooImage(version))]);

const baseline = results[0]![1];
console.log(`\nreal Odoo bench, default plan (1 CPU, 1 GiB), ${runs} tenants each (p50)`);
console.log(`${''.padEnd(16)} ${'provision -> first login'.padStart(26)} ${'idle RSS'.padStart(12)}`);
for (const [label, samples] of results) {
  const login = median(samples.map((sample) => sample.loginMs));
  const rss = median(samples.map((sample) => sample.idleMib));
  const ratio = (value: number, base: number) => (label === results[0]![0] ? '' : ` (${(value / base).toFixed(1)}x)`);
  console.log(
    `${label.padEnd(16)} ${`${(login / 1000).toFixed(1)} s${ratio(login, median(baseline.map((s) => s.loginMs)))}`.padStart(26)} ${`${rss.toFixed(0)} MiB${ratio(rss, median(baseline.map((s) => s.idleMib)))}`.padStart(12)}`,
  );
}
