import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { eventually, metricsToken } from './harness.js';
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
