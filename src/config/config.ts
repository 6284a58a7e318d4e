import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** Everything the daemon reads from its environment, parsed once at start-up. */
export interface Config {
  port: number;
  databaseUrl: string;
  redisUrl: string;
  dockerHost: string | undefined;
  adminToken: string;
  masterKey: Buffer;
  odooImage: string;
  postgresPoolImage: string;
  cephfsRoot: string;
  baseDomain: string;
  swarmNetwork: string;
  logLevel: string;
  credentialsTtlSeconds: number;
  tenantConnectionLimit: number;
  allocationRetryCron: string;
  provisionTrackingCron: string;
  provisionDeadlineSeconds: number;
  odooRestartMaxAttempts: number;
  odooUid: number;
  /** Added to every Docker object the daemon creates (for example a team or, in tests, a run id). */
  dockerLabels: Record<string, string>;
  pools: PoolConfig;
  customerAuth: CustomerAuthConfig;
  /** How often a replica that does not lead tries to take leadership (and the leader checks it still holds it). */
  leaderRetryMs: number;
  /** What happens to a terminated instance's filestore: kept in place, or moved under `odoo_instances_archive/`. */
  filestoreOnTerminate: 'keep' | 'archive';
  billing: BillingConfig;
  backups: BackupConfig;
}

/** When backups run, how many are kept, and how their one-shot jobs are bounded. */
export interface BackupConfig {
  /** When scheduled backups are due; each instance starts within `spreadSeconds` after, at an offset of its own. */
  cron: string;
  spreadSeconds: number;
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
  keepAfterTerminationDays: number;
  /** How often the leader advances backups and restores in flight, and applies retention. */
  trackingCron: string;
  retentionCron: string;
  /** Scheduled backups running at once (manual and final ones are never held back). */
  maxConcurrent: number;
  /** A backup or restore job still running after this long is failed and removed. */
  jobDeadlineSeconds: number;
}

/** Kill Bill: the webhook's shared secret, the API the daemon asks for facts, and how failed events are retried. */
export interface BillingConfig {
  /** Shared secret Kill Bill's callback URL carries (`?token=`); unset, the webhook answers 503. */
  webhookToken: string | null;
  /** Unset (no KILLBILL_URL): events are still recorded, and fail with a clear reason until it is set. */
  killbill: KillbillApiConfig | null;
  retryCron: string;
  retryBaseSeconds: number;
  retryMaxSeconds: number;
}

export interface KillbillApiConfig {
  url: string;
  apiKey: string;
  apiSecret: string;
  username: string;
  password: string;
  timeoutMs: number;
}

/** How the frontend's customer tokens (JWT, `sub` = customer id) are verified; neither set: no customer access. */
export interface CustomerAuthConfig {
  hs256Secret: string | null;
  jwksUrl: string | null;
  issuer: string | null;
  audience: string | null;
}

/** How the daemon makes, reaches and watches the pools it runs as Swarm services. */
export interface PoolConfig {
  /** `published`: the daemon runs outside the swarm and reaches a pool through its host-mode port; `overlay`: by service name. */
  accessMode: 'published' | 'overlay';
  publishedHost: string;
  publishedPorts: { first: number; last: number };
  /** Placement constraints for pool services; dropped on a single-node swarm, where no node could carry a label. */
  placementConstraints: string[];
  postgresUid: number;
  adminUser: string;
  provisionDeadlineSeconds: number;
  provisioningCron: string;
  healthCron: string;
  healthTimeoutMs: number;
  unhealthyAfterFailures: number;
  growth: { enabled: boolean; maxInstances: number; cpuLimit: number; memoryLimitMb: number };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

const hostname = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const dockerName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const urlWithScheme = (schemes: string[]) =>
  z.string().refine((value) => {
    try {
      return schemes.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, `must be a URL starting with ${schemes.map((s) => `${s}//`).join(' or ')}`);
const int = (min: number, max: number) => {
  const rule = `must be an integer from ${min} to ${max}`;
  return z.coerce.number({ message: rule }).int(rule).min(min, rule).max(max, rule);
};

/** Kill Bill's callback URL carries the token in its query string: only characters that need no escaping there. */
const urlSafeSecret = z.string().regex(/^[A-Za-z0-9._~-]{24,200}$/, 'must be 24-200 letters, digits or . _ ~ -');

const billingEnv = {
  KILLBILL_WEBHOOK_TOKEN: urlSafeSecret.optional(),
  KILLBILL_URL: urlWithScheme(['http:', 'https:'])
    .refine((value) => !URL.canParse(value) || (!new URL(value).username && !new URL(value).password), 'must not carry credentials (use KILLBILL_USERNAME and KILLBILL_PASSWORD)')
    .optional(),
  // The key and secret travel as header values as they are: printable ASCII only.
  KILLBILL_API_KEY: z.string().regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces').optional(),
  KILLBILL_API_SECRET: z.string().regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces').optional(),
  KILLBILL_USERNAME: z.string().regex(/^[^:\p{Cc}]+$/u, 'must not be empty, nor contain a colon or control characters').optional(),
  KILLBILL_PASSWORD: z.string().min(1).optional(),
  KILLBILL_TIMEOUT_MS: int(100, 120_000).default(10_000),
  BILLING_RETRY_CRON: z.string().default('*/5 * * * * *'),
  BILLING_RETRY_BASE_SECONDS: int(1, 3600).default(5),
  BILLING_RETRY_MAX_SECONDS: int(1, 7 * 24 * 3600).default(3600),
};
const billingSecrets = ['KILLBILL_WEBHOOK_TOKEN', 'KILLBILL_API_KEY', 'KILLBILL_API_SECRET', 'KILLBILL_USERNAME', 'KILLBILL_PASSWORD'];

/** Rules across variables: the API needs every credential, and the webhook token is not the admin's. */
function billingProblems(e: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (e.KILLBILL_URL) {
    for (const name of ['KILLBILL_API_KEY', 'KILLBILL_API_SECRET', 'KILLBILL_USERNAME', 'KILLBILL_PASSWORD']) {
      if (!e[name]) problems.push(`${name}: is required when KILLBILL_URL is set`);
    }
  }
  if (e.KILLBILL_WEBHOOK_TOKEN && e.KILLBILL_WEBHOOK_TOKEN === e.ADMIN_TOKEN) problems.push('KILLBILL_WEBHOOK_TOKEN: must differ from ADMIN_TOKEN');
  return problems;
}

const backupEnv = {
  BACKUP_CRON: z.string().default('0 2 * * *'),
  BACKUP_SPREAD_SECONDS: int(0, 24 * 3600).default(3600),
  BACKUP_KEEP_DAILY: int(0, 1000).default(7),
  BACKUP_KEEP_WEEKLY: int(0, 1000).default(4),
  BACKUP_KEEP_MONTHLY: int(0, 1000).default(3),
  BACKUP_KEEP_AFTER_TERMINATION_DAYS: int(0, 3650).default(30),
  BACKUP_TRACKING_CRON: z.string().default('* * * * * *'),
  BACKUP_RETENTION_CRON: z.string().default('17 * * * *'),
  BACKUP_MAX_CONCURRENT: int(1, 100).default(2),
  BACKUP_JOB_DEADLINE_SECONDS: int(30, 7 * 24 * 3600).default(6 * 3600),
};

const envSchema = z.object({
  PORT: int(0, 65535).default(4000),
  DATABASE_URL: urlWithScheme(['postgres:', 'postgresql:']),
  REDIS_URL: urlWithScheme(['redis:', 'rediss:']),
  DOCKER_HOST: z.string().min(1).optional(),
  ADMIN_TOKEN: z.string().min(24, 'must be at least 24 characters'),
  MASTER_KEY: z
    .string()
    .refine((value) => Buffer.from(value, 'base64').length === 32, 'must be 32 bytes encoded in base64'),
  ODOO_IMAGE: z.string().min(1).default('odoo:17.0'),
  POSTGRES_POOL_IMAGE: z.string().min(1).default('postgres:16'),
  CEPHFS_ROOT: z.string().regex(/^\/[^\0]*$/, 'must be an absolute path').default('/mnt/cephfs'),
  BASE_DOMAIN: z.string().regex(hostname, 'must be a lower-case DNS name').default('localhost'),
  SWARM_NETWORK: z.string().regex(dockerName, 'must be a Docker network name').default('odoo-net'),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  CREDENTIALS_TTL_SECONDS: int(60, 7 * 24 * 3600).default(3600),
  TENANT_CONNECTION_LIMIT: int(1, 10_000).default(32),
  ALLOCATION_RETRY_CRON: z.string().default('*/10 * * * * *'),
  PROVISION_TRACKING_CRON: z.string().default('* * * * * *'),
  PROVISION_DEADLINE_SECONDS: int(10, 24 * 3600).default(600),
  // Swarm reads 0 as "restart forever", which would never let an instance fail.
  ODOO_RESTART_MAX_ATTEMPTS: int(1, 100).default(3),
  ODOO_UID: int(0, 2 ** 31).default(101),
  POOL_ACCESS_MODE: z.enum(['published', 'overlay']).default('published'),
  POOL_PUBLISHED_HOST: z.string().regex(/^[a-zA-Z0-9.-]+$/, 'must be a host name or an IPv4 address').default('127.0.0.1'),
  POOL_PUBLISHED_PORTS: z
    .string()
    .regex(/^\d{2,5}-\d{2,5}$/, 'must be a port range such as 25432-25999')
    .refine((range) => {
      const [first, last] = range.split('-').map(Number) as [number, number];
      return first >= 1024 && last <= 65535 && first <= last;
    }, 'must lie within 1024-65535, first port first')
    .default('25432-25999'),
  POOL_PLACEMENT_CONSTRAINTS: z.string().default('node.labels.role==database'),
  POOL_POSTGRES_UID: int(0, 2 ** 31).default(999),
  POOL_ADMIN_USER: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a PostgreSQL role name').default('postgres'),
  POOL_PROVISION_DEADLINE_SECONDS: int(10, 3600).default(300),
  POOL_PROVISIONING_CRON: z.string().default('*/2 * * * * *'),
  POOL_HEALTH_CRON: z.string().default('*/15 * * * * *'),
  POOL_HEALTH_TIMEOUT_MS: int(100, 60_000).default(3000),
  POOL_UNHEALTHY_AFTER: int(1, 100).default(3),
  POOL_GROWTH: z.enum(['on', 'off']).default('off'),
  POOL_GROWTH_MAX_INSTANCES: int(1, 10_000).default(50),
  POOL_GROWTH_CPU_LIMIT: z.coerce.number({ message: 'must be a number of cores' }).min(0.25, 'must be at least 0.25').max(64, 'must be at most 64').default(2),
  POOL_GROWTH_MEMORY_MB: int(256, 1024 * 1024).default(4096),
  LEADER_RETRY_MS: int(100, 60_000).default(2000),
  FILESTORE_ON_TERMINATE: z.enum(['keep', 'archive']).default('keep'),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters (HS256)').optional(),
  JWT_JWKS_URL: urlWithScheme(['https:', 'http:']).optional(),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  DOCKER_LABELS: z
    .string()
    .regex(/^([a-z0-9][a-z0-9._-]*=[^,=]*)(,[a-z0-9][a-z0-9._-]*=[^,=]*)*$/, 'must be key=value pairs separated by commas')
    .optional(),
  ...billingEnv,
  ...backupEnv,
});

type Env = Record<string, string | undefined>;

/** `NAME_FILE` (a Docker secret) wins over `NAME`; a trailing newline in the file is not part of the value. */
function withSecretFiles(env: Env, names: string[], problems: string[]): Env {
  const resolved: Env = { ...env };
  for (const name of names) {
    const file = env[`${name}_FILE`];
    if (!file) continue;
    try {
      resolved[name] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      problems.push(`${name}_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  return resolved;
}

/** Parses the environment; throws a ConfigError with one line per problem. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const blankAsMissing = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const resolved = withSecretFiles(blankAsMissing, ['ADMIN_TOKEN', 'MASTER_KEY', 'JWT_SECRET', ...billingSecrets], problems);
  const parsed = envSchema.safeParse(resolved);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = issue.path.join('.');
      const missing = issue.code === 'invalid_type' && resolved[name] === undefined;
      problems.push(`${name}: ${missing ? 'is required' : issue.message}`);
    }
  }
  if (parsed.success) problems.push(...billingProblems(parsed.data));
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  const e = parsed.data;
  return {
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    dockerHost: e.DOCKER_HOST,
    adminToken: e.ADMIN_TOKEN,
    masterKey: Buffer.from(e.MASTER_KEY, 'base64'),
    odooImage: e.ODOO_IMAGE,
    postgresPoolImage: e.POSTGRES_POOL_IMAGE,
    cephfsRoot: e.CEPHFS_ROOT.replace(/\/+$/, '') || '/',
    baseDomain: e.BASE_DOMAIN,
    swarmNetwork: e.SWARM_NETWORK,
    logLevel: e.LOG_LEVEL,
    credentialsTtlSeconds: e.CREDENTIALS_TTL_SECONDS,
    tenantConnectionLimit: e.TENANT_CONNECTION_LIMIT,
    allocationRetryCron: e.ALLOCATION_RETRY_CRON,
    provisionTrackingCron: e.PROVISION_TRACKING_CRON,
    provisionDeadlineSeconds: e.PROVISION_DEADLINE_SECONDS,
    odooRestartMaxAttempts: e.ODOO_RESTART_MAX_ATTEMPTS,
    odooUid: e.ODOO_UID,
    leaderRetryMs: e.LEADER_RETRY_MS,
    filestoreOnTerminate: e.FILESTORE_ON_TERMINATE,
    customerAuth: {
      hs256Secret: e.JWT_SECRET ?? null,
      jwksUrl: e.JWT_JWKS_URL ?? null,
      issuer: e.JWT_ISSUER ?? null,
      audience: e.JWT_AUDIENCE ?? null,
    },
    pools: {
      accessMode: e.POOL_ACCESS_MODE,
      publishedHost: e.POOL_PUBLISHED_HOST,
      publishedPorts: (([first, last]) => ({ first: first!, last: last! }))(e.POOL_PUBLISHED_PORTS.split('-').map(Number)),
      placementConstraints: e.POOL_PLACEMENT_CONSTRAINTS.split(',').map((c) => c.trim()).filter((c) => c && c !== 'none'),
      postgresUid: e.POOL_POSTGRES_UID,
      adminUser: e.POOL_ADMIN_USER,
      provisionDeadlineSeconds: e.POOL_PROVISION_DEADLINE_SECONDS,
      provisioningCron: e.POOL_PROVISIONING_CRON,
      healthCron: e.POOL_HEALTH_CRON,
      healthTimeoutMs: e.POOL_HEALTH_TIMEOUT_MS,
      unhealthyAfterFailures: e.POOL_UNHEALTHY_AFTER,
      growth: {
        enabled: e.POOL_GROWTH === 'on',
        maxInstances: e.POOL_GROWTH_MAX_INSTANCES,
        cpuLimit: e.POOL_GROWTH_CPU_LIMIT,
        memoryLimitMb: e.POOL_GROWTH_MEMORY_MB,
      },
    },
    billing: {
      webhookToken: e.KILLBILL_WEBHOOK_TOKEN ?? null,
      killbill: e.KILLBILL_URL
        ? {
            url: e.KILLBILL_URL.replace(/\/+$/, ''),
            apiKey: e.KILLBILL_API_KEY!,
            apiSecret: e.KILLBILL_API_SECRET!,
            username: e.KILLBILL_USERNAME!,
            password: e.KILLBILL_PASSWORD!,
            timeoutMs: e.KILLBILL_TIMEOUT_MS,
          }
        : null,
      retryCron: e.BILLING_RETRY_CRON,
      retryBaseSeconds: e.BILLING_RETRY_BASE_SECONDS,
      retryMaxSeconds: e.BILLING_RETRY_MAX_SECONDS,
    },
    backups: {
      cron: e.BACKUP_CRON,
      spreadSeconds: e.BACKUP_SPREAD_SECONDS,
      keepDaily: e.BACKUP_KEEP_DAILY,
      keepWeekly: e.BACKUP_KEEP_WEEKLY,
      keepMonthly: e.BACKUP_KEEP_MONTHLY,
      keepAfterTerminationDays: e.BACKUP_KEEP_AFTER_TERMINATION_DAYS,
      trackingCron: e.BACKUP_TRACKING_CRON,
      retentionCron: e.BACKUP_RETENTION_CRON,
      maxConcurrent: e.BACKUP_MAX_CONCURRENT,
      jobDeadlineSeconds: e.BACKUP_JOB_DEADLINE_SECONDS,
    },
    dockerLabels: Object.fromEntries((e.DOCKER_LABELS ?? '').split(',').filter(Boolean).map((pair) => pair.split('=') as [string, string])),
  };
}
