import { posix } from 'node:path';
import type { EndpointPort, ServiceSpec } from './docker-types.js';
import { poolLabels, type Labels } from './labels.js';
import { healthCheck, onNetwork, resourceAmounts, secretFile, seconds, singleTaskService } from './spec-parts.js';

export type { ServiceSpec } from './docker-types.js';

export interface PostgresPoolServiceInput {
  pool: { id: string; name: string; maxInstances: number; cpuLimit: number; memoryLimitMb: number };
  serviceName: string;
  image: string;
  network: string;
  cephfsRoot: string;
  /** The superuser the image's entrypoint creates at first start; the daemon allocates tenants as this role. */
  adminUser: string;
  secret: { id: string; name: string };
  /** A host-mode port for a daemon outside the swarm (dev, tests); null when the daemon sits on the overlay. */
  publishedPort: number | null;
  placementConstraints: string[];
  /** The image's `postgres` user (999 in the official image): it owns the data directory and reads the secret. */
  postgresUid: number;
  extraLabels?: Labels;
}

/** Server settings sized from what a pool is provisioned for; memory in MB unless the name says otherwise. */
export interface PoolServerSettings {
  maxConnections: number;
  sharedBuffersMb: number;
  effectiveCacheSizeMb: number;
  workMemKb: number;
  maintenanceWorkMemMb: number;
}

/** How long Docker lets a pool's PostgreSQL shut down (fast shutdown, with its checkpoint) before it kills it. */
export const POOL_STOP_GRACE_SECONDS = 60;
const POSTGRES_PORT = 5432;
const DATA_DIR = '/var/lib/postgresql/data';
/** A subdirectory of the mount, as the official image recommends: a mount point's root may hold lost+found. */
const PGDATA = `${DATA_DIR}/pgdata`;
const PASSWORD_FILE_NAME = 'postgres_password';

/** An Odoo keeps a few connections per process (HTTP, cron, bus); its role's own limit caps one tenant's burst. */
const CONNECTIONS_PER_TENANT = 10;
/** Superuser-reserved slots, the daemon's admin sessions, health probes, backups and an operator's psql. */
const RESERVED_CONNECTIONS = 20;
const MIN_CONNECTIONS = 50;
/** Every backend costs a few MB of its own; past this, a pooler (PgBouncer) helps, more backends do not. */
const MAX_CONNECTIONS = 2000;
/** Sorts and hashes a query may run at once: work_mem is per operation, not per connection. */
const WORK_MEM_OPERATIONS_PER_CONNECTION = 3;
/** Below 1 MB even small sorts spill to disk; PostgreSQL itself would accept 64 kB. */
const MIN_WORK_MEM_KB = 1024;
const MIN_MAINTENANCE_WORK_MEM_MB = 16;
const MAX_MAINTENANCE_WORK_MEM_MB = 1024;

/** Unbounded (0): see the restart policy below. */
const RESTART_MAX_ATTEMPTS = 0;

const clamp = (value: number, min: number, max: number): number => Math.min(max, Math.max(min, value));

/**
 * PostgreSQL settings for a pool of `maxInstances` tenants in a container limited to `memoryLimitMb`:
 * - max_connections: 10 per tenant + 20 reserved, within 50..2000;
 * - shared_buffers: 25% of memory (PostgreSQL's own advice for a dedicated server);
 * - effective_cache_size: 75% (a planner hint for shared buffers plus the page cache; allocates nothing);
 * - work_mem: what is left after shared_buffers, split over 3 operations per connection, so that every
 *   connection busy at once stays near the limit instead of getting the server OOM-killed; at least 1 MB;
 * - maintenance_work_mem: 5%, within 16 MB..1 GB (VACUUM and CREATE INDEX; autovacuum workers use it each).
 */
export function poolServerSettings(maxInstances: number, memoryLimitMb: number): PoolServerSettings {
  if (!Number.isInteger(maxInstances) || maxInstances < 1)
    throw new RangeError(`maxInstances must be a positive integer, got ${maxInstances}`);
  if (!Number.isFinite(memoryLimitMb) || memoryLimitMb <= 0) throw new RangeError(`memoryLimitMb must be positive, got ${memoryLimitMb}`);

  const maxConnections = clamp(maxInstances * CONNECTIONS_PER_TENANT + RESERVED_CONNECTIONS, MIN_CONNECTIONS, MAX_CONNECTIONS);
  const sharedBuffersMb = Math.max(1, Math.floor(memoryLimitMb * 0.25));
  const workMemKb = Math.floor(((memoryLimitMb - sharedBuffersMb) * 1024) / (maxConnections * WORK_MEM_OPERATIONS_PER_CONNECTION));
  return {
    maxConnections,
    sharedBuffersMb,
    effectiveCacheSizeMb: Math.max(1, Math.floor(memoryLimitMb * 0.75)),
    workMemKb: Math.max(MIN_WORK_MEM_KB, workMemKb),
    maintenanceWorkMemMb: clamp(Math.floor(memoryLimitMb * 0.05), MIN_MAINTENANCE_WORK_MEM_MB, MAX_MAINTENANCE_WORK_MEM_MB),
  };
}

/** The server command: the image's entrypoint passes `-c` flags on to every server it starts, init included. */
function serverArgs(settings: PoolServerSettings): string[] {
  const flags = [
    `max_connections=${settings.maxConnections}`,
    `shared_buffers=${settings.sharedBuffersMb}MB`,
    `effective_cache_size=${settings.effectiveCacheSizeMb}MB`,
    `work_mem=${settings.workMemKb}kB`,
    `maintenance_work_mem=${settings.maintenanceWorkMemMb}MB`,
    // The entrypoint also derives pg_hba's method for TCP clients from this, so hashes and auth agree.
    'password_encryption=scram-sha-256',
  ];
  return ['postgres', ...flags.flatMap((flag) => ['-c', flag])];
}

/** A pool's data on CephFS, bind-mounted into its PostgreSQL. The name must be a single path segment. */
export function poolDataDir(cephfsRoot: string, poolName: string): string {
  if (poolName === '' || poolName === '.' || poolName === '..' || poolName.includes('/')) {
    throw new RangeError(`pool name ${JSON.stringify(poolName)} is not a single directory name`);
  }
  return posix.join(cephfsRoot, 'postgres_pools', poolName);
}

/** The Swarm service of a shared PostgreSQL pool. Pure: the same input always gives the same spec. */
export function postgresPoolServiceSpec(input: PostgresPoolServiceInput): ServiceSpec {
  const { pool } = input;
  const labels = poolLabels(pool.id, input.extraLabels);
  const limits = resourceAmounts(pool.cpuLimit, pool.memoryLimitMb);
  const ports: EndpointPort[] =
    input.publishedPort === null
      ? []
      : [{ Protocol: 'tcp', TargetPort: POSTGRES_PORT, PublishedPort: input.publishedPort, PublishMode: 'host' }];

  // Two servers must never share a data directory: one task, stopped before its replacement starts.
  return singleTaskService(
    input.serviceName,
    labels,
    {
      ContainerSpec: {
        Image: input.image,
        Labels: labels,
        Args: serverArgs(poolServerSettings(pool.maxInstances, pool.memoryLimitMb)),
        // The password travels only as a Docker secret file, never in the service's environment.
        Env: [
          `POSTGRES_USER=${input.adminUser}`,
          `POSTGRES_PASSWORD_FILE=/run/secrets/${PASSWORD_FILE_NAME}`,
          'POSTGRES_DB=postgres',
          `PGDATA=${PGDATA}`,
        ],
        Secrets: [secretFile(input.secret, PASSWORD_FILE_NAME, input.postgresUid)],
        Mounts: [{ Type: 'bind', Source: poolDataDir(input.cephfsRoot, pool.name), Target: DATA_DIR }],
        // TCP on 127.0.0.1, not the socket: the entrypoint's init server listens on the socket only, so the
        // check passes once the real server accepts clients. Swarm reports `running` only then. A busy server
        // gets about 30 s of failed probes before Swarm replaces it.
        HealthCheck: healthCheck(['CMD', 'pg_isready', '-U', input.adminUser, '-d', 'postgres', '-h', '127.0.0.1'], {
          intervalSeconds: 3,
          timeoutSeconds: 3,
          startPeriodSeconds: 30,
          retries: 5,
        }),
        // The image stops with SIGINT (fast shutdown), which still writes a checkpoint; Docker's default 10 s
        // can cut that short and leave crash recovery to the next start.
        StopGracePeriod: seconds(POOL_STOP_GRACE_SECONDS),
      },
      // Reservations equal the limits: the scheduler places a pool only where what it is sized for is free,
      // and tenants scheduled later cannot crowd it out of the node.
      Resources: { Limits: limits, Reservations: { ...limits } },
      // `any`: a dockerd restart or a stop signal ends PostgreSQL with exit 0, which `on-failure` leaves down.
      // Unbounded: every tenant on the pool depends on it, and what crash-loops a database here is mostly
      // outside it (CephFS away, node memory pressure). A bounded count would turn such an outage into one
      // that lasts until an operator steps in; the pool health job sees a flapping task either way.
      RestartPolicy: { Condition: 'any', Delay: seconds(10), MaxAttempts: RESTART_MAX_ATTEMPTS },
      ...(input.placementConstraints.length > 0 ? { Placement: { Constraints: [...input.placementConstraints] } } : {}),
      // Tenants reach the pool by its service name.
      Networks: onNetwork(input.network, input.serviceName),
    },
    ports,
  );
}
