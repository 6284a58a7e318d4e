/**
 * From provisionInstance to RUNNING on the real services, split into the daemon's parts and Docker's part, each beside
 * a baseline measured in the same run: the same PostgreSQL and Docker calls made directly, without the daemon.
 */
import { performance } from 'node:perf_hooks';
import { generatePassword } from '../src/crypto/passwords.js';
import type { SwarmTask } from '../src/swarm/docker-types.js';
import { odooServiceSpec } from '../src/swarm/odoo-service.js';
import { odooSpec } from '../src/swarm/odoo-config.js';
import { createService, ensureSecret, removeSecret, removeService } from '../src/swarm/swarm.js';
import {
  CREATE_INSTANCE,
  eventually,
  instanceInput,
  registerLocalPool,
  resetState,
  runLabels,
  startTestDaemon,
} from '../test/support/harness.js';
import { PROVISION } from '../test/support/odoo.js';

const runs = Number(process.argv[2] ?? 5);
const daemon = await startTestDaemon({ LOG_LEVEL: 'warn' });
await resetState(daemon.deps);
await registerLocalPool(daemon, 'bench-pool', 50);

const samples: Record<string, number[]> = {
  'provisioning: mutation to service created (daemon)': [],
  'provisioning baseline: secret + service created directly': [],
  'Docker: service created to task running': [],
  'tracking: task running to row RUNNING (daemon)': [],
};
const record = (name: string, ms: number) => samples[name]!.push(ms);

for (let run = 0; run < runs; run++) {
  // Allocation has a bench of its own (allocation.bench.ts).
  const instance = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ memoryLimit: '512M', cpuLimit: 0.5 }) })).data
    .createInstance;

  let start = performance.now();
  const provisioned = (await daemon.gql(PROVISION, { id: instance.id })).data.provisionInstance;
  record('provisioning: mutation to service created (daemon)', performance.now() - start);

  const baselineName = `bench-baseline-${run}-${process.pid}`;
  start = performance.now();
  const secret = await ensureSecret(daemon.deps.docker, baselineName, generatePassword(), runLabels);
  await createService(
    daemon.deps.docker,
    odooServiceSpec({
      instance: { id: instance.id, subdomain: baselineName },
      spec: odooSpec({ version: '17.0', image: daemon.deps.config.odooImages['17.0']!, cpuLimit: 0.5, memoryLimitMb: 512, env: [] }),
      serviceName: baselineName,
      network: daemon.deps.config.swarmNetwork,
      baseDomain: 'bench.invalid',
      tls: { mode: 'per-host', certResolver: 'letsencrypt' },
      cephfsRoot: daemon.deps.config.cephfsRoot,
      configSecret: secret,
      restartMaxAttempts: 1,
      restartDelaySeconds: daemon.deps.config.odooRestartDelaySeconds,
      healthIntervalSeconds: daemon.deps.config.odooHealthIntervalSeconds,
      healthStartSeconds: daemon.deps.config.odooHealthStartSeconds,
      stopGraceSeconds: daemon.deps.config.odooStopGraceSeconds,
      odooUid: 101,
      extraLabels: runLabels,
    }),
  );
  record('provisioning baseline: secret + service created directly', performance.now() - start);
  await removeService(daemon.deps.docker, baselineName);

  const row = await eventually(
    () => daemon.deps.db.selectFrom('instances').selectAll().where('id', '=', instance.id).executeTakeFirstOrThrow(),
    (current) => current.status !== 'PROVISIONING',
    180_000,
    50,
  );
  if (row.status !== 'RUNNING') throw new Error(`instance ${instance.id} ended ${row.status}: ${JSON.stringify(row.conditions)}`);
  const service = await daemon.deps.docker.getService(provisioned.serviceName).inspect();
  const tasks = (await daemon.deps.docker.listTasks({ filters: { service: [service.ID] } })) as SwarmTask[];
  const running = tasks.find((task) => task.Status.State === 'running')!;
  const taskRunningAt = Date.parse(running.Status.Timestamp);
  record('Docker: service created to task running', taskRunningAt - Date.parse(service.CreatedAt));
  record('tracking: task running to row RUNNING (daemon)', row.status_changed_at.getTime() - taskRunningAt);
  await removeSecret(daemon.deps.docker, baselineName).catch(() => undefined);
  process.stderr.write(`run ${run + 1}/${runs} done\n`);
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
const p50 = (name: string) => quantile(samples[name]!, 0.5);
const format = (ms: number) => `${ms.toFixed(0).padStart(6)} ms`;

console.log(`\nprovisioning bench, ${runs} runs (p50 / p90)`);
for (const [name, values] of Object.entries(samples))
  console.log(`${name.padEnd(60)} ${format(quantile(values, 0.5))} ${format(quantile(values, 0.9))}`);
console.log('\nratios (daemon / baseline, p50)');
console.log(
  `provisioning ${(p50('provisioning: mutation to service created (daemon)') / p50('provisioning baseline: secret + service created directly')).toFixed(2)}x`,
);
const trackingPeriodMs = 1000;
console.log(
  `tracking     ${(p50('tracking: task running to row RUNNING (daemon)') / trackingPeriodMs).toFixed(2)}x of the 1 s tracking period (goal: p50 under 1 s)`,
);

await resetState(daemon.deps);
await daemon.stop();
