import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/config.js';
import { connectDeps } from '../../src/daemon.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import type { Deps } from '../../src/deps.js';
import { createLogger } from '../../src/logger.js';
import { eventually, metricsToken, resetState } from './harness.js';
import { testTimings } from './timings.js';

export interface DaemonProcess {
  child: ChildProcess;
  url: string;
  /** Every JSON log line it wrote, parsed. */
  lines: Record<string, any>[];
  /** Resident memory now and the peak so far (VmRSS, VmHWM), in MB, as the kernel counts them. */
  memoryMb: () => { rss: number; peak: number };
  exited: () => boolean;
  stop: () => Promise<void>;
}

/** The arguments that start the daemon from this checkout: compiled when the tests are (scripts/test.sh), else through tsx. */
const daemonArguments = (): string[] =>
  import.meta.url.endsWith('.js') ? [fileURLToPath(new URL('../../src/main.js', import.meta.url))] : ['--import', 'tsx', 'src/main.ts'];

/** The daemon as `npm start` runs it, in a process of its own (optionally with a smaller heap), on a free port. */
export async function startDaemonProcess(
  env: Record<string, string | undefined> = {},
  options: { heapMb?: number } = {},
): Promise<DaemonProcess> {
  const args = [...(options.heapMb ? [`--max-old-space-size=${options.heapMb}`] : []), ...daemonArguments()];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...testTimings, PORT: '0', LOG_LEVEL: 'info', LEADER_RETRY_MS: '500', METRICS_TOKEN: metricsToken, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let exitCode: number | null | undefined;
  child.once('exit', (code) => (exitCode = code));
  const lines: Record<string, any>[] = [];
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const line of parts) if (line.startsWith('{')) lines.push(JSON.parse(line));
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const started = await eventually(
    async () => lines.find((line) => line.event === 'daemon.started'),
    (line) => !!line || exitCode !== undefined,
    60_000,
    100,
  );
  if (!started) {
    child.kill('SIGKILL');
    throw new Error(`daemon did not start (exit ${exitCode}): ${stderr.slice(-2000)} ${JSON.stringify(lines.slice(-5))}`);
  }
  const status = (field: string) =>
    Number(
      /(\d+) kB/.exec(
        readFileSync(`/proc/${child.pid}/status`, 'utf8')
          .split('\n')
          .find((l) => l.startsWith(field)) ?? '',
      )?.[1] ?? 0,
    ) / 1024;
  return {
    child,
    url: `http://127.0.0.1:${started.port}`,
    lines,
    memoryMb: () => ({ rss: status('VmRSS:'), peak: status('VmHWM:') }),
    exited: () => exitCode !== undefined,
    stop: async () => {
      if (exitCode !== undefined) return;
      const exit = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** A daemon process's GraphQL (as admin, each call bounded) and /readyz, as a client reads them. */
export function daemonHttp(daemon: () => Pick<DaemonProcess, 'url'>) {
  const gql = async (query: string, variables?: Record<string, unknown>) => {
    const response = await fetch(`${daemon().url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${process.env.ADMIN_TOKEN}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(60_000),
    });
    return (await response.json()) as { data?: any; errors?: { message: string; extensions?: { code?: string } }[] };
  };
  const readyz = async () => {
    const response = await fetch(`${daemon().url}/readyz`, { signal: AbortSignal.timeout(10_000) });
    return { status: response.status, body: (await response.json()) as Record<string, string> };
  };
  return { gql, readyz };
}

/**
 * This process's own handles on the slot's services, for a suite whose daemon runs in a process of its own: the
 * slot's state reset and its tables made first (the daemon would make them at start; the reset comes before it).
 */
export async function localDeps(dockerLabels: string): Promise<Deps> {
  const local = connectDeps(loadConfig({ ...process.env, DOCKER_LABELS: dockerLabels }), createLogger('silent'));
  await migrateToLatest(local.db);
  await resetState(local);
  return local;
}

/** The daemon process survived whatever was done to it: running, live, no promise left unhandled; its error lines shown. */
export async function assertStillUp(daemon: DaemonProcess): Promise<void> {
  const errors = daemon.lines
    .filter((line) => line.level >= 50)
    .map((line) => `${line.event}: ${line.err?.message ?? line.msg ?? line.args?.join(' ')}`);
  if (errors.length > 0) console.log(`daemon error lines so far: ${[...new Set(errors)].join(' | ')}`);
  assert.ok(!daemon.exited(), 'the daemon process is still running');
  assert.equal((await fetch(`${daemon.url}/healthz`)).status, 200);
  const unhandled = daemon.lines.filter((line) => line.event === 'process.unhandled_rejection');
  assert.deepEqual(unhandled, [], 'no promise was left unhandled');
}
