import { z } from 'zod';
import { base64Key, commaList, dockerName, int, origin, urlWithScheme } from './rules.js';

/** What the daemon itself needs to run: where its state lives, who is admin, how it talks to its dependencies. */
export const coreSection = z
  .object({
    PORT: int(0, 65535).default(4000),
    DATABASE_URL: urlWithScheme(['postgres:', 'postgresql:']),
    REDIS_URL: urlWithScheme(['redis:', 'rediss:']),
    DOCKER_HOST: z.string().min(1).optional(),
    ADMIN_TOKEN: z.string().min(24, 'must be at least 24 characters'),
    MASTER_KEY: base64Key,
    MASTER_KEY_PREVIOUS: base64Key.optional(),
    METRICS_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
    CORS_ORIGINS: z
      .string()
      .transform((value) => commaList(value).map((item) => item.replace(/\/+$/, '')))
      .pipe(z.array(origin))
      .optional(),
    DOCKER_TIMEOUT_MS: int(1000, 600_000).default(15_000),
    DB_POOL_MAX: int(2, 500).default(20),
    DB_CONNECT_TIMEOUT_MS: int(1000, 120_000).default(15_000),
    DB_STATEMENT_TIMEOUT_MS: int(0, 3_600_000).default(30_000),
    DB_LOCK_TIMEOUT_MS: int(0, 3_600_000).default(15_000),
    DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: int(0, 3_600_000).default(600_000),
    LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    LEADER_RETRY_MS: int(100, 60_000).default(2000),
    SWARM_NETWORK: z.string().regex(dockerName, 'must be a Docker network name').default('odoo-net'),
    CEPHFS_ROOT: z
      .string()
      .regex(/^\/[^\0]*$/, 'must be an absolute path')
      .default('/mnt/cephfs'),
    SWARM_RESERVATIONS: z.enum(['on', 'off']).default('on'),
    DOCKER_LABELS: z
      .string()
      .regex(/^([a-z0-9][a-z0-9._-]*=[^,=]*)(,[a-z0-9][a-z0-9._-]*=[^,=]*)*$/, 'must be key=value pairs separated by commas')
      .optional(),
  })
  .superRefine((e, context) => {
    if (e.MASTER_KEY_PREVIOUS && e.MASTER_KEY_PREVIOUS === e.MASTER_KEY) {
      context.addIssue({ code: 'custom', path: ['MASTER_KEY_PREVIOUS'], message: 'must differ from MASTER_KEY' });
    }
    if (e.METRICS_TOKEN && e.METRICS_TOKEN === e.ADMIN_TOKEN) {
      context.addIssue({
        code: 'custom',
        path: ['METRICS_TOKEN'],
        message: 'must differ from ADMIN_TOKEN (a scraper needs no admin rights)',
      });
    }
  })
  .transform((e) => ({
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    dockerHost: e.DOCKER_HOST,
    adminToken: e.ADMIN_TOKEN,
    /** What a scraper presents for /metrics (the admin token opens it too); none: admins only. */
    metricsToken: e.METRICS_TOKEN ?? null,
    masterKey: Buffer.from(e.MASTER_KEY, 'base64'),
    /** The key pool passwords were sealed with before MASTER_KEY: re-sealed under MASTER_KEY at start. */
    masterKeyPrevious: e.MASTER_KEY_PREVIOUS ? Buffer.from(e.MASTER_KEY_PREVIOUS, 'base64') : null,
    /** Origins a browser may call the API from (CORS); empty: none besides the daemon's own. */
    corsOrigins: e.CORS_ORIGINS ?? [],
    /** A Docker call that sees no answer for this long fails (SERVICE_UNAVAILABLE) instead of waiting. */
    dockerTimeoutMs: e.DOCKER_TIMEOUT_MS,
    database: {
      max: e.DB_POOL_MAX,
      connectTimeoutMs: e.DB_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
      lockTimeoutMs: e.DB_LOCK_TIMEOUT_MS,
      idleInTransactionTimeoutMs: e.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    },
    logLevel: e.LOG_LEVEL,
    /** How often a replica that does not lead tries to take leadership (and the leader checks it still holds it). */
    leaderRetryMs: e.LEADER_RETRY_MS,
    swarmNetwork: e.SWARM_NETWORK,
    cephfsRoot: e.CEPHFS_ROOT.replace(/\/+$/, '') || '/',
    /** Whether tasks reserve CPU and memory on their node (off: limits only, for a single small node). */
    swarmReservations: e.SWARM_RESERVATIONS === 'on',
    /** Added to every Docker object the daemon creates (for example a team or, in tests, a run id). */
    dockerLabels: Object.fromEntries(commaList(e.DOCKER_LABELS).map((pair) => pair.split('=') as [string, string])),
  }));
