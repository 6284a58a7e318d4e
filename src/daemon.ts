import type { Server } from 'node:http';
import { Redis } from 'ioredis';
import type { Config } from './config/config.js';
import { backgroundBillingWork } from './billing/processor.js';
import { checkMasterKey } from './domain/pools/master-key-check.js';
import { poolStats } from './domain/pools/pool-lifecycle.js';
import { connectDatabase } from './db/connect.js';
import { migrateToLatest } from './db/migrate.js';
import type { Deps } from './deps.js';
import { connectDocker } from './docker.js';
import { createOffsiteStore } from './s3/offsite-store.js';
import { createOffsiteUploads, type OffsiteUploads } from './domain/offsite/offsite-uploads.js';
import { announceOffsite } from './domain/offsite/offsite-start.js';
import { createPoolConnections } from './db/pool-connections.js';
import { ADMIN_QUERY_TIMEOUT_MS } from './db/pool-server.js';
import { createEventBus } from './events/event-bus.js';
import { createHttpServer } from './http/server.js';
import { billingRetryJob } from './jobs/billing-retry.js';
import { backupRetentionJob, backupScheduleJob, backupTrackingJob } from './jobs/backups.js';
import { poolHealthJob } from './jobs/pool-health.js';
import { storageMountsJob, storageUsageJob } from './jobs/storage.js';
import { poolProvisioningJob } from './jobs/pool-provisioning.js';
import { instanceTrackingJob } from './jobs/instance-tracking.js';
import { templatesJob } from './jobs/templates.js';
import { wakeTrackingOnDockerEvents } from './jobs/docker-wakeups.js';
import { createContainerExits } from './swarm/container-exits.js';
import { startLeadership, type Leadership } from './jobs/leadership.js';
import { startScheduler, type Job, type Scheduler } from './jobs/scheduler.js';
import type { Logger } from './logger.js';
import { createMetrics, registerStateGauges } from './observability/metrics.js';
import { createStorage } from './storage/storage.js';

export interface Daemon {
  deps: Deps;
  server: Server;
  leadership: Leadership;
  url: string;
  /** Stops taking requests, hands leadership back (after the scheduler's runs in flight end), closes the server. */
  stop: () => Promise<void>;
}

/**
 * Every handle fails fast while its service is away and recovers by itself when it returns: Redis refuses commands
 * while disconnected (no offline queue) and bounds each one; PostgreSQL bounds statements, lock waits and idle
 * transactions; Docker bounds each call. Errors of dropped connections become log lines, never a process exit.
 */
export function connectDeps(config: Config, log: Logger): Deps {
  const redis = new Redis(config.redisUrl, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    commandTimeout: 2000,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  // ioredis reconnects by itself; an unreachable Redis shows in /readyz and in these lines.
  redis.on('error', (error: Error) => log.warn({ event: 'redis.error', reason: error.message }, 'redis connection error'));
  const db = connectDatabase(config.databaseUrl, {
    ...config.database,
    onError: (error) => log.warn({ event: 'postgres.connection_error', reason: error.message }, 'control database connection dropped'),
  });
  return {
    config,
    log,
    db,
    redis,
    docker: connectDocker(config.dockerHost, config.dockerTimeoutMs),
    events: createEventBus(config.redisUrl, redis, log),
    metrics: createMetrics(),
    poolConnections: createPoolConnections({
      masterKey: config.masterKey,
      ...config.pools.adminConnections,
      // A caller may wait for one of the POOL_ADMIN_CONNECTIONS (eight sign-ups at once on two took over 5 s in CI).
      connectTimeoutMs: config.database.connectTimeoutMs,
      queryTimeoutMs: ADMIN_QUERY_TIMEOUT_MS,
      log,
    }),
    containerExits: createContainerExits(),
    storage: createStorage(config),
    offsite: createOffsiteStore(config.offsite),
  };
}

/**
 * Checks storage every STORAGE_CHECK_SECONDS on every replica (each one's /readyz and calls depend on it), and says
 * when it goes and comes back. Returns the stop.
 */
async function watchStorage(deps: Deps): Promise<() => void> {
  const { storage, log, metrics } = deps;
  if (storage.mode === 'plain') {
    log.warn(
      { event: 'storage.plain', root: storage.root },
      "CEPHFS_MODE=plain: tenants' files are in a plain directory, without quotas, usage or snapshots",
    );
  }
  let last = '';
  const check = async () => {
    const { status } = await storage.check();
    metrics.storageUp.set(status === 'ok' ? 1 : 0);
    if (status === last) return;
    if (status === 'ok') log.info({ event: 'storage.available', root: storage.root, mode: storage.mode }, 'storage answers');
    else log.warn({ event: 'storage.unavailable', root: storage.root, reason: status }, 'storage is unavailable');
    last = status;
  };
  await check();
  const timer = setInterval(() => void check(), deps.config.storage.checkSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}

const schedulerJobs = (deps: Deps, uploads: OffsiteUploads): Job[] => [
  instanceTrackingJob(deps.config.provisionTrackingCron),
  poolProvisioningJob(deps.config.pools.provisioningCron),
  poolHealthJob(deps.config.pools.healthCron),
  billingRetryJob(deps.config.billing.retryCron),
  backupTrackingJob(deps.config.backups.trackingCron, uploads),
  backupScheduleJob(deps.config.backups.cron),
  backupRetentionJob(deps.config.backups.retentionCron),
  storageUsageJob(deps.config.storage.usageCron),
  storageMountsJob(deps.config.storage.checkSeconds),
  templatesJob(deps.config.templates.cron),
];

/**
 * Commands are refused while Redis is not connected (no offline queue): give the first connection a moment so the
 * first requests do not fail needlessly. A Redis that stays away does not hold start-up: /readyz reports it.
 */
function redisConnected(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    redis.once('ready', done);
  });
}

/** Migrates, then serves HTTP on `config.port` (0: any free port); runs the scheduler while this replica leads. */
export async function startDaemon(deps: Deps): Promise<Daemon> {
  const applied = await migrateToLatest(deps.db);
  if (applied.length > 0) deps.log.info({ event: 'migrations.applied', migrations: applied }, 'migrations applied');
  await redisConnected(deps.redis, 2000);
  const stopWatchingStorage = await watchStorage(deps);
  const resealed = await checkMasterKey(deps.db, deps.config.masterKey, deps.config.masterKeyPrevious);
  if (resealed.length > 0) deps.log.info({ event: 'master_key.rotated', pools: resealed }, 'pool passwords re-encrypted under MASTER_KEY');
  await announceOffsite(deps);
  registerStateGauges(deps.metrics, deps.db, async () => {
    const stats = await poolStats(deps);
    return { used: stats.slotsUsed, free: stats.slotsFree };
  });

  let scheduler: Scheduler | null = null;
  let wakeups: { stop: () => void } | null = null;
  const uploads = createOffsiteUploads();
  const leadership = startLeadership(
    deps,
    {
      start: () => {
        scheduler = startScheduler(deps, schedulerJobs(deps, uploads));
        wakeups = wakeTrackingOnDockerEvents(deps, scheduler);
        deps.metrics.leader.set(1);
      },
      stop: async () => {
        deps.metrics.leader.set(0);
        wakeups?.stop();
        await scheduler?.stop();
        // After the scheduler: no tick starts an upload once these are aborted.
        await uploads.stop();
        scheduler = null;
      },
    },
    deps.config.leaderRetryMs,
  );

  const server = createHttpServer(deps, leadership);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(deps.config.port, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : deps.config.port;
  deps.log.info({ event: 'daemon.started', port }, `listening on http://localhost:${port}/graphql`);

  return {
    deps,
    server,
    leadership,
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await leadership.stop();
      stopWatchingStorage();
      await backgroundBillingWork(deps);
      server.closeAllConnections();
      await closed;
    },
  };
}

export async function closeDeps(deps: Deps): Promise<void> {
  deps.offsite?.bucket.close();
  await deps.poolConnections.close();
  await deps.db.destroy();
  deps.events.close();
  deps.redis.disconnect();
}
