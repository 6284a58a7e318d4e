import type { Server } from 'node:http';
import { Redis } from 'ioredis';
import type { Config } from './config/config.js';
import { connectDatabase } from './db/connect.js';
import { migrateToLatest } from './db/migrate.js';
import type { Deps } from './deps.js';
import { connectDocker } from './docker.js';
import { createHttpServer } from './http/server.js';
import { allocationRetryJob } from './jobs/allocation-retry.js';
import { poolHealthJob } from './jobs/pool-health.js';
import { poolProvisioningJob } from './jobs/pool-provisioning.js';
import { provisionTrackingJob } from './jobs/provision-tracking.js';
import { startScheduler, type Scheduler } from './jobs/scheduler.js';
import type { Logger } from './logger.js';

export interface Daemon {
  deps: Deps;
  server: Server;
  scheduler: Scheduler;
  url: string;
  stop: () => Promise<void>;
}

export function connectDeps(config: Config, log: Logger): Deps {
  return {
    config,
    log,
    db: connectDatabase(config.databaseUrl),
    redis: new Redis(config.redisUrl, { maxRetriesPerRequest: 3 }),
    docker: connectDocker(config.dockerHost),
  };
}

/** Migrates, then serves HTTP on `config.port` (0: any free port) and runs the scheduler. */
export async function startDaemon(deps: Deps): Promise<Daemon> {
  const applied = await migrateToLatest(deps.db);
  if (applied.length > 0) deps.log.info({ event: 'migrations.applied', migrations: applied }, 'migrations applied');

  const server = createHttpServer(deps);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(deps.config.port, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : deps.config.port;
  const scheduler = startScheduler(deps, [
    allocationRetryJob(deps.config.allocationRetryCron),
    provisionTrackingJob(deps.config.provisionTrackingCron),
    poolProvisioningJob(deps.config.pools.provisioningCron),
    poolHealthJob(deps.config.pools.healthCron),
  ]);
  deps.log.info({ event: 'daemon.started', port }, `listening on http://localhost:${port}/graphql`);

  return {
    deps,
    server,
    scheduler,
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      await scheduler.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}

export async function closeDeps(deps: Deps): Promise<void> {
  await deps.db.destroy();
  deps.redis.disconnect();
}
