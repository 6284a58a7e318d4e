import { z } from 'zod';
import { base64Key, commaList, dockerName, int, origin, urlWithScheme } from './rules.js';

/** What the daemon itself needs to run: where its state lives, who is admin, how it talks to its dependencies. */
export const coreSection = z
  .object({
    PORT: int(0, 65535).default(4000).describe('HTTP port'),
    DATABASE_URL: urlWithScheme(['postgres:', 'postgresql:']).describe("the daemon's PostgreSQL"),
    REDIS_URL: urlWithScheme(['redis:', 'rediss:']).describe('credentials in transit'),
    DOCKER_HOST: z.string().min(1).optional().describe('`unix:///path` or `tcp://host:port`').meta({ shownDefault: 'local socket' }),
    ADMIN_TOKEN: z.string().min(24, 'must be at least 24 characters').describe('admin bearer token (24+ characters)'),
    MASTER_KEY: base64Key.describe(
      "32 bytes, base64: encrypts pool admin passwords and tenants' maintenance login passwords; start-up stops, naming the pools, if it cannot decrypt a pool's (a maintenance login it cannot decrypt gets a new password)",
    ),
    MASTER_KEY_PREVIOUS: base64Key.optional().describe('key rotation: what it decrypts is re-encrypted under `MASTER_KEY` at start'),
    METRICS_TOKEN: z
      .string()
      .min(24, 'must be at least 24 characters')
      .optional()
      .describe(
        'what a Prometheus scraper presents on `/metrics` (`Authorization: Bearer`; 24+ characters, not the admin token); without it only the admin token opens `/metrics`',
      ),
    CORS_ORIGINS: z
      .string()
      .transform((value) => commaList(value).map((item) => item.replace(/\/+$/, '')))
      .pipe(z.array(origin))
      .optional()
      .describe('comma-separated origins (`https://admin.example.com`) whose pages may call the API with credentials; none otherwise'),
    DOCKER_TIMEOUT_MS: int(1000, 600_000)
      .default(15_000)
      .describe('a Docker call that sees no answer for this long fails with `SERVICE_UNAVAILABLE`'),
    DB_POOL_MAX: int(2, 500)
      .default(20)
      .describe('control database connections per replica at most; sign-ups at once beyond it wait for one'),
    DB_CONNECT_TIMEOUT_MS: int(1000, 120_000)
      .default(15_000)
      .describe(
        'how long a call waits for a control database connection before SERVICE_UNAVAILABLE (a busy server has taken over 5 s to let one in), and for a kept pool admin connection (one of `POOL_ADMIN_CONNECTIONS`, or a new one) before that pool is passed by',
      ),
    DB_STATEMENT_TIMEOUT_MS: int(0, 3_600_000)
      .default(30_000)
      .describe("`statement_timeout` of the control database connections (0: PostgreSQL's default)"),
    DB_LOCK_TIMEOUT_MS: int(0, 3_600_000)
      .default(15_000)
      .describe("`lock_timeout` of the control database connections (0: PostgreSQL's default)"),
    DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: int(0, 3_600_000)
      .default(600_000)
      .describe("`idle_in_transaction_session_timeout` of the control database connections (0: PostgreSQL's default)"),
    LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info').describe('pino level'),
    LEADER_RETRY_MS: int(100, 60_000).default(2000).describe('how soon a replica takes over a leader that is gone'),
    SWARM_NETWORK: z
      .string()
      .regex(dockerName, 'must be a Docker network name')
      .default('odoo-net')
      .describe('attachable overlay network for tenants and pools'),
    CEPHFS_ROOT: z
      .string()
      .regex(/^\/[^\0]*$/, 'must be an absolute path')
      .default('/mnt/cephfs')
      .describe(
        "the daemon's view of CephFS (quota and snapshot rights): instances under `odoo_instances/`, pools under `postgres_pools/`",
      ),
    SWARM_RESERVATIONS: z
      .enum(['on', 'off'])
      .default('on')
      .describe(
        '`off`: tasks keep their CPU and memory limits but reserve nothing, for a single small node (`npm run dev` and the tests set it), where reservations would leave tasks pending',
      ),
    DOCKER_LABELS: z
      .string()
      .regex(/^([a-z0-9][a-z0-9._-]*=[^,=]*)(,[a-z0-9][a-z0-9._-]*=[^,=]*)*$/, 'must be key=value pairs separated by commas')
      .optional()
      .describe('`key=value,...` added to every Docker object the daemon creates'),
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
  }))
  .meta({ title: 'Core' });
