import { ConfigError, loadConfig } from './config/config.js';
import { closeDeps, connectDeps, startDaemon } from './daemon.js';
import { createLogger } from './logger.js';

function readConfig() {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) process.stderr.write(`config: ${problem}\n`);
    process.exit(2);
  }
}

const config = readConfig();
const log = createLogger(config.logLevel);
// Last resort only: every promise the daemon makes is awaited or caught where it is made. Should one slip through,
// a dependency's hiccup must not take the replica down; the line says where to fix it.
process.on('unhandledRejection', (reason) =>
  log.error({ event: 'process.unhandled_rejection', err: reason }, 'a promise was left unhandled'),
);
const deps = connectDeps(config, log);
const daemon = await startDaemon(deps).catch(async (error: unknown) => {
  log.fatal({ event: 'daemon.start_failed', err: error }, 'daemon could not start');
  await closeDeps(deps);
  process.exit(1);
});

/** Within the stack's stop grace period: a shutdown still running then is cut short. */
const SHUTDOWN_TIMEOUT_MS = 25_000;

/** Never rejects: it runs from a signal handler, where a rejection would end the process uncontrolled. */
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  log.info({ event: 'daemon.stopping', signal }, 'stopping: no new requests, leadership handed back after running jobs');
  setTimeout(() => {
    log.error({ event: 'daemon.stop_timeout' }, 'shutdown took too long');
    process.exit(1);
  }, SHUTDOWN_TIMEOUT_MS).unref();
  try {
    await daemon.stop();
    await closeDeps(deps);
    log.info({ event: 'daemon.stopped' }, 'stopped');
    process.exit(0);
  } catch (error) {
    log.error({ event: 'daemon.stop_failed', err: error }, 'shutdown failed');
    process.exit(1);
  }
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void shutdown(signal));
