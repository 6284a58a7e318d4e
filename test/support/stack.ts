import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { projectRoot } from '../../src/project-root.js';
import { stackTimings } from './timings.js';

/**
 * Helpers for test/stack-e2e.test.ts: the daemon deployed with `docker stack deploy` from stack/, driven from this
 * host. Each replica is reached on port 4000 of its docker_gwbridge address (the host owns that bridge's gateway),
 * since the stack publishes no port. Everything a run makes carries its stack name (the stack's own namespace
 * label, or `odoo-orchestrator.test-run=<stack>` on secrets and on what the daemon creates), so removal finds it all.
 */

export const stackFile = (name: string) => join(projectRoot, 'stack', name);

/** The CLI that matches the engine (Debian's docker.io); a newer one on PATH works too. */
const dockerCli = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
export const docker = new Docker({ socketPath: '/var/run/docker.sock' });

export const TEST_RUN_LABEL = 'odoo-orchestrator.test-run';
const STACK_NAMESPACE_LABEL = 'com.docker.stack.namespace';
export const DAEMON_PORT = 4000;

/** Runs the docker CLI; rejects with its stderr. */
export function dockerCmd(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      dockerCli,
      args,
      { env: options.env ?? process.env, timeout: options.timeoutMs ?? 120_000, maxBuffer: 32 * 1024 * 1024 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`docker ${args.join(' ')}: ${stderr.trim() || error.message}`)) : resolve(stdout),
    );
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

/** scripts/env/daemon-image.sh: builds local/odoo-orchestrator:dev when its sources changed. Returns seconds taken. */
export async function buildDaemonImage(): Promise<number> {
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('bash', [join(projectRoot, 'scripts/env/daemon-image.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`scripts/env/daemon-image.sh exited with ${code}`))));
  });
  return (Date.now() - started) / 1000;
}

const token = (bytes: number) => randomBytes(bytes).toString('base64url');

/** Everything one deployed stack is made of. */
export interface StackRun {
  name: string;
  /** Bind-mounted into the daemon at the same path; the daemon's PostgreSQL keeps its data below it. */
  cephfsRoot: string;
  labels: Record<string, string>;
  /** The values of the stack's secrets, by their names in the stack file. */
  secrets: Record<string, string>;
  /** Variables `docker stack deploy` interpolates. */
  deployEnv: Record<string, string>;
  files: string[];
  service: (short: string) => string;
}

const STACK_PREFIX = 'oe2e-';

export function newStackRun(
  options: { files?: string[]; extraSecrets?: Record<string, string>; env?: Record<string, string> } = {},
): StackRun {
  const name = `${STACK_PREFIX}${randomBytes(3).toString('hex')}`;
  const cephfsRoot = join(projectRoot, '.local', name, 'cephfs');
  const labels = { [TEST_RUN_LABEL]: name };
  const secrets: Record<string, string> = {
    admin_token: token(32),
    master_key: randomBytes(32).toString('base64'),
    db_password: token(24),
    redis_password: token(24),
    killbill_webhook_token: token(32),
    jwt_secret: token(36),
    ...options.extraSecrets,
  };
  return {
    name,
    cephfsRoot,
    labels,
    secrets,
    files: options.files ?? [stackFile('odoo-orchestrator.yml')],
    deployEnv: {
      ORCHESTRATOR_IMAGE: 'local/odoo-orchestrator:dev',
      POSTGRES_IMAGE: 'local/postgres-standin:16',
      REDIS_IMAGE: 'local/redis-standin:7',
      ODOO_IMAGE: process.env.ODOO_IMAGE ?? 'local/odoo-standin:17.0',
      POSTGRES_POOL_IMAGE: process.env.POSTGRES_POOL_IMAGE ?? 'local/postgres-standin:16',
      POOL_PLACEMENT_CONSTRAINTS: 'none',
      SWARM_NETWORK: process.env.SWARM_NETWORK ?? 'odoo-net',
      CEPHFS_ROOT: cephfsRoot,
      // A directory of the checkout, not CephFS: the daemon's image has no attr tools either.
      CEPHFS_MODE: 'plain',
      // As every test daemon: tenants through their own init job (test/templates.test.ts has the templates).
      ODOO_TEMPLATES: 'off',
      SECRETS_PREFIX: name,
      DOCKER_LABELS: `${TEST_RUN_LABEL}=${name}`,
      LOG_LEVEL: 'info',
      ...stackTimings,
      ...options.env,
    },
    service: (short) => `${name}_${short}`,
  };
}

/** Creates the data directory the stack binds, the secrets (labelled with the run), then deploys. */
export async function deployStack(run: StackRun): Promise<void> {
  await mkdir(join(run.cephfsRoot, 'orchestrator', 'postgres'), { recursive: true });
  for (const [key, value] of Object.entries(run.secrets)) {
    const labels = Object.entries(run.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    await dockerCmd(['secret', 'create', ...labels, `${run.name}_${key}`, '-'], { input: value });
  }
  // Only what the stack file reads, not this process's environment (DATABASE_URL, CEPHFS_ROOT of other suites...).
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...run.deployEnv };
  await dockerCmd(['stack', 'deploy', '--resolve-image', 'never', ...run.files.flatMap((file) => ['-c', file]), run.name], { env });
}

export interface Replica {
  taskId: string;
  containerId: string;
  /** http://<docker_gwbridge address>:4000 */
  url: string;
}

interface TaskInfo {
  ID: string;
  DesiredState: string;
  Status: { State: string; Err?: string; ContainerStatus?: { ContainerID?: string } };
}

export async function serviceTasks(service: string): Promise<TaskInfo[]> {
  return (await docker.listTasks({ filters: { service: [service] } })) as TaskInfo[];
}

/** The address of each container on this node's docker_gwbridge, by container id. */
async function gatewayBridgeAddresses(): Promise<Map<string, string>> {
  const network = (await docker.getNetwork('docker_gwbridge').inspect()) as { Containers?: Record<string, { IPv4Address: string }> };
  return new Map(Object.entries(network.Containers ?? {}).map(([id, { IPv4Address }]) => [id, IPv4Address.split('/')[0]!]));
}

/** The host's address on docker_gwbridge (where a task reaches this host). */
export async function gatewayBridgeGateway(): Promise<string> {
  const network = (await docker.getNetwork('docker_gwbridge').inspect()) as { IPAM: { Config: { Gateway?: string }[] } };
  const gateway = network.IPAM.Config.find((config) => config.Gateway)?.Gateway;
  if (!gateway) throw new Error('docker_gwbridge has no gateway address');
  return gateway;
}

async function healthz(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(3000) })).ok;
  } catch {
    return false;
  }
}

/** The running, healthy replicas of `service` that answer /healthz on their docker_gwbridge address. */
export async function liveReplicas(service: string): Promise<Replica[]> {
  const tasks = (await serviceTasks(service)).filter((task) => task.DesiredState === 'running' && task.Status.State === 'running');
  const addresses = await gatewayBridgeAddresses();
  const replicas: Replica[] = [];
  for (const task of tasks) {
    const containerId = task.Status.ContainerStatus?.ContainerID;
    const address = containerId && addresses.get(containerId);
    if (!containerId || !address) continue;
    const health = (await docker
      .getContainer(containerId)
      .inspect()
      .catch(() => null)) as { State?: { Health?: { Status?: string } } } | null;
    if (health?.State?.Health?.Status !== 'healthy') continue;
    const url = `http://${address}:${DAEMON_PORT}`;
    if (await healthz(url)) replicas.push({ taskId: task.ID, containerId, url });
  }
  return replicas;
}

/** Waits until `count` replicas are live; fails with the tasks' states and errors otherwise. */
export async function waitForReplicas(service: string, count: number, timeoutMs: number): Promise<Replica[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const replicas = await liveReplicas(service);
    if (replicas.length === count) return replicas;
    if (Date.now() > deadline) {
      const tasks = await serviceTasks(service);
      const states = tasks.map((task) =>
        `${task.ID.slice(0, 12)} desired=${task.DesiredState} state=${task.Status.State} ${task.Status.Err ?? ''}`.trim(),
      );
      throw new Error(`${service}: ${replicas.length} of ${count} replicas live after ${timeoutMs / 1000}s; tasks: ${states.join('; ')}`);
    }
    await sleep(1000);
  }
}

export interface GraphQLResult<T = any> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: { code?: string } }[];
}

export async function gql<T = any>(
  replica: Replica,
  adminToken: string,
  query: string,
  variables?: Record<string, unknown>,
): Promise<GraphQLResult<T>> {
  const response = await fetch(`${replica.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: response.status, ...(JSON.parse(await response.text()) as object) };
}

/**
 * `orchestrator_leader` from the replica's /metrics (read with the admin token): 1 on the replica that runs the
 * scheduler; null if it does not answer.
 */
export async function leaderGauge(replica: Replica, adminToken: string): Promise<number | null> {
  try {
    const text = await (
      await fetch(`${replica.url}/metrics`, { headers: { authorization: `Bearer ${adminToken}` }, signal: AbortSignal.timeout(3000) })
    ).text();
    const line = text.split('\n').find((l) => /^orchestrator_leader(\{[^}]*\})? /.test(l));
    return line ? Number(line.split(' ').pop()) : null;
  } catch {
    return null;
  }
}

/** The container's own log lines (the daemon logs JSON lines on stdout). */
export async function containerLogs(containerId: string): Promise<string> {
  return dockerCmd(['logs', containerId]).catch((error: Error) => `(no logs: ${error.message})`);
}

/** The last lines of every service of the stack, for a failure's message. */
export async function stackLogs(run: StackRun, tail = 40): Promise<string> {
  const parts: string[] = [];
  for (const short of ['orchestrator', 'orchestrator-db', 'orchestrator-redis']) {
    const lines = await dockerCmd(['service', 'logs', '--no-trunc', '--tail', String(tail), run.service(short)], {
      timeoutMs: 20_000,
    }).catch((error: Error) => error.message);
    parts.push(`--- ${run.service(short)} ---\n${lines}`);
  }
  return parts.join('\n');
}

export { eventually } from './eventually.js';

/** What is left of a run in Docker and on disk (empty once removeStack is done). */
export async function leftovers(run: Pick<StackRun, 'name'>): Promise<string[]> {
  const left: string[] = [];
  const byLabel = (label: string) => ({ label: [label] });
  const namespace = `${STACK_NAMESPACE_LABEL}=${run.name}`;
  const runLabel = `${TEST_RUN_LABEL}=${run.name}`;
  for (const filter of [namespace, runLabel]) {
    for (const service of await docker.listServices({ filters: byLabel(filter) })) left.push(`service ${service.Spec?.Name}`);
    for (const container of await docker.listContainers({ all: true, filters: byLabel(filter) }))
      left.push(`container ${container.Names.join(',')}`);
    for (const network of await docker.listNetworks({ filters: byLabel(filter) })) left.push(`network ${network.Name}`);
    for (const secret of (await docker.listSecrets({ filters: byLabel(filter) })) as { Spec?: { Name?: string } }[])
      left.push(`secret ${secret.Spec?.Name}`);
  }
  // Tasks of the daemon's services carry the service's labels only on the service: find them by name too.
  for (const service of await docker.listServices())
    if (service.Spec?.Name?.startsWith(`${run.name}_`)) left.push(`service ${service.Spec.Name}`);
  if (existsSync(join(projectRoot, '.local', run.name))) left.push(`directory .local/${run.name}`);
  return [...new Set(left)];
}

/**
 * Removes the stack, then what its daemon made (services and secrets with the run's label), the run's own secrets
 * and its directory. Waits for Docker to finish (a network or secret in use cannot go yet). Never throws: returns
 * what it could not remove.
 */
export async function removeStack(run: Pick<StackRun, 'name'>, timeoutMs = 120_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  const problems: string[] = [];
  const attempt = async (what: string, work: () => Promise<unknown>) => {
    for (;;) {
      try {
        await work();
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          problems.push(`${what}: ${(error as Error).message}`);
          return;
        }
        await sleep(1000);
      }
    }
  };
  const labelled = { label: [`${TEST_RUN_LABEL}=${run.name}`] };
  const namespaced = { label: [`${STACK_NAMESPACE_LABEL}=${run.name}`] };

  const services = [...(await docker.listServices({ filters: namespaced })), ...(await docker.listServices({ filters: labelled }))].map(
    (service) => service.Spec?.Name ?? service.ID,
  );

  // The daemon first, so it creates nothing more; its services go with the stack.
  await attempt('docker stack rm', () => dockerCmd(['stack', 'rm', run.name]));
  for (const service of await docker.listServices({ filters: labelled })) {
    await attempt(`service ${service.Spec?.Name}`, () => docker.getService(service.ID).remove());
  }
  // Tasks' containers go some seconds after their services; secrets and networks in use cannot go before.
  await attempt('containers gone', async () => {
    const containers = await docker.listContainers({ all: true, filters: { label: ['com.docker.swarm.service.name'] } });
    const left = containers.filter((container) => services.includes(container.Labels['com.docker.swarm.service.name'] ?? ''));
    if (left.length > 0) throw new Error(`${left.length} containers still there`);
  });
  await attempt('stack networks gone', async () => {
    const networks = await docker.listNetworks({ filters: namespaced });
    for (const network of networks)
      await docker
        .getNetwork(network.Id)
        .remove()
        .catch(() => undefined);
    if ((await docker.listNetworks({ filters: namespaced })).length > 0) throw new Error('stack network still there');
  });
  for (const secret of (await docker.listSecrets({ filters: labelled })) as { ID: string; Spec?: { Name?: string } }[]) {
    await attempt(`secret ${secret.Spec?.Name}`, () => docker.getSecret(secret.ID).remove());
  }
  await attempt(`directory .local/${run.name}`, () => rm(join(projectRoot, '.local', run.name), { recursive: true, force: true }));
  return problems;
}

/**
 * A TCP relay from `host` (the docker_gwbridge gateway, which tasks reach) to a server that listens on 127.0.0.1
 * only, such as the Kill Bill fake. Returns its URL and a close function.
 */
export async function relay(host: string, target: URL): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = connect(Number(target.port), target.hostname);
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const address = server.address() as { port: number };
  return {
    url: `http://${host}:${address.port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Removes the stacks of earlier runs that were stopped before their cleanup (a killed test process): every
 * `oe2e-*` stack whose services are all older than `maxAgeMs`, longer than any run takes. Returns their names.
 */
export async function removeStaleStacks(maxAgeMs = 60 * 60_000): Promise<string[]> {
  const newest = new Map<string, number>();
  for (const service of await docker.listServices({ filters: { label: [STACK_NAMESPACE_LABEL] } })) {
    const stack = service.Spec?.Labels?.[STACK_NAMESPACE_LABEL];
    if (!stack?.startsWith(STACK_PREFIX)) continue;
    newest.set(stack, Math.max(newest.get(stack) ?? 0, Date.parse(service.CreatedAt ?? '') || Date.now()));
  }
  const stale = [...newest].filter(([, created]) => Date.now() - created > maxAgeMs).map(([name]) => name);
  for (const name of stale) await removeStack({ name });
  return stale;
}
