/**
 * How a tenant's Odoo is configured and started, whichever Swarm service runs it: its settings come from one
 * config file held in a Docker secret (the password included), so no command line carries the password.
 */
import { ODOO_SERVER, WAIT_FOR_DATABASE } from './job-scripts.js';

const MIB = 1024 * 1024;

/*
 * Odoo's limit_memory_soft / limit_memory_hard bound each worker's VIRTUAL size (soft: checked before and after each
 * request, the worker is recycled; hard: RLIMIT_AS, an allocation beyond it fails), not its RAM. A freshly forked
 * worker is already ~265 MiB of virtual size, so RAM shared out as these limits killed every worker at birth. RAM is
 * bounded by the container's memory limit; the limits only recycle a worker that grew and stop one runaway request.
 * Figures measured on real Odoo 17.0 and 18.0 (docs/architecture.md, "Odoo's workers and memory"):
 * - a fresh worker: 263-268 MiB virtual (base, contacts preloaded by the master), ~100 MiB RSS mostly shared;
 * - the container idle (master, 2-3 HTTP workers, cron, gevent): 200-237 MiB;
 * - a worker after real requests (assets, 2000-record writes and reads): 190-225 MiB RSS.
 */
/** What the master, the gevent and cron processes and the page cache keep of the container's memory. */
const FIXED_RAM_MB = 256;
/** RAM a busy HTTP worker adds. */
const WORKER_RAM_MB = 192;
/** A worker's virtual size at birth, with room for the registry of the modules a tenant adds. */
const BIRTH_VIRTUAL_MB = 384;
/** Odoo's own defaults: no plan, however large, raises the limits beyond them. */
const ODOO_DEFAULT_SOFT_MB = 2048;
const ODOO_DEFAULT_HARD_MB = 2560;

/** The smallest plan real Odoo serves in: idle it takes ~240 MiB, the rest is one request's room. */
export const ODOO_MIN_MEMORY_MB = 512;
/** Below this real Odoo takes most of its health check's start period to serve (0.1 CPU: 47 s; 0.25: 16 s). */
export const ODOO_MIN_CPU = 0.25;

/** Where the config secret appears in the container; the image's user reads it (ODOO_RC points at it too). */
export const ODOO_CONFIG_PATH = '/run/secrets/odoo.conf';
export const ODOO_CONFIG_FILE_NAME = 'odoo.conf';
export const ODOO_DATA_DIR = '/var/lib/odoo';
export const ODOO_HTTP_PORT = 8069;
/** Odoo 17 serves `/websocket` (its bus) on the gevent port when it runs with workers. */
export const ODOO_GEVENT_PORT = 8072;
/** The official image's addons path for the customer's own modules. */
const EXTRA_ADDONS = '/mnt/extra-addons';

export interface OdooProductionSettings {
  workers: number;
  maxCronThreads: number;
  /** Bytes of virtual size per worker: above the soft limit a worker is recycled after its request, above the hard one an allocation fails. */
  limitMemorySoft: number;
  limitMemoryHard: number;
}

/**
 * Pure: multi-process settings from the instance's limits. HTTP workers: Odoo's rule of thumb (2 per core plus one), no
 * more than the memory limit holds at WORKER_RAM_MB each beyond FIXED_RAM_MB, never fewer than 2. The soft limit is a
 * worker's birth size plus its share of that RAM, the hard limit one more share: both well above a worker's birth size
 * whatever the plan, and never above Odoo's defaults.
 */
export function odooProductionSettings(limits: { cpuLimit: number; memoryLimitMb: number }): OdooProductionSettings {
  const maxCronThreads = limits.cpuLimit >= 2 ? 2 : 1;
  const spareMb = Math.max(0, limits.memoryLimitMb - FIXED_RAM_MB);
  const byCpu = Math.floor(limits.cpuLimit * 2) + 1;
  const byMemory = Math.floor(spareMb / WORKER_RAM_MB);
  const workers = Math.max(2, Math.min(byCpu, byMemory));
  const shareMb = spareMb / workers;
  const softMb = Math.min(ODOO_DEFAULT_SOFT_MB, BIRTH_VIRTUAL_MB + shareMb);
  const hardMb = Math.min(ODOO_DEFAULT_HARD_MB, softMb + shareMb);
  return { workers, maxCronThreads, limitMemorySoft: Math.floor(softMb * MIB), limitMemoryHard: Math.floor(hardMb * MIB) };
}

/** The settings as Odoo's command-line options: they override the config file, and carry no secret. */
export const odooSettingsArgs = (settings: OdooProductionSettings): string[] => [
  '--workers',
  String(settings.workers),
  '--max-cron-threads',
  String(settings.maxCronThreads),
  '--limit-memory-soft',
  String(settings.limitMemorySoft),
  '--limit-memory-hard',
  String(settings.limitMemoryHard),
];

/**
 * Everything a tenant's Odoo is made from besides its database and password: recorded on the instance when it is
 * provisioned or its plan changes, so the init job, the server and every later change are built from the same one,
 * whichever replica acts.
 */
export interface OdooSpec {
  version: string;
  image: string;
  cpuLimit: number;
  memoryLimitMb: number;
  settings: OdooProductionSettings;
  /** `KEY=value` entries added to the container's environment. */
  env: string[];
}

/** Pure: the spec for an image and limits. */
export const odooSpec = (input: Omit<OdooSpec, 'settings'>): OdooSpec => ({
  ...input,
  settings: odooProductionSettings({ cpuLimit: input.cpuLimit, memoryLimitMb: input.memoryLimitMb }),
});

export interface OdooConfigInput {
  db: { host: string; port: number; name: string; user: string; password: string };
  /**
   * Odoo's master password (`admin_passwd`, default `admin`), which opens /web/database/*: random, told to nobody. With
   * `list_db = False` most of those routes refuse anyway, but not every one checks it.
   */
  masterPassword: string;
}

/**
 * Odoo's `--db-filter` is a Python regex in which Odoo also expands `%h` and `%d`,
 * so a database name is escaped to match only itself.
 */
export const exactDbFilter = (database: string): string =>
  `^${database.replace(/[\\^$.|?*+()[\]{}%]/g, (char) => (char === '%' ? '\\x25' : `\\${char}`))}$`;

/**
 * Pure: the `[options]` file Odoo reads with `-c`: the database and what never changes. Workers and memory limits follow
 * the plan: they are on the command line (odooSettingsArgs), which a plan change updates. Values are single-line by
 * construction; anything else is refused.
 */
export function odooConfigFile(input: OdooConfigInput): string {
  const { db } = input;
  const options: [string, string | number][] = [
    ['admin_passwd', input.masterPassword],
    ['db_host', db.host],
    ['db_port', db.port],
    ['db_user', db.user],
    ['db_password', db.password],
    ['db_name', db.name],
    ['dbfilter', exactDbFilter(db.name)],
    ['list_db', 'False'],
    ['proxy_mode', 'True'],
    ['data_dir', ODOO_DATA_DIR],
    ['addons_path', EXTRA_ADDONS],
    ['without_demo', 'all'],
    ['http_port', ODOO_HTTP_PORT],
    ['gevent_port', ODOO_GEVENT_PORT],
  ];
  const lines = options.map(([key, value]) => {
    const text = String(value);
    if (/[\r\n]/.test(text)) throw new Error(`odoo config value for ${key} spans lines`);
    return `${key} = ${text}`;
  });
  return `[options]\n${lines.join('\n')}\n`;
}

/** Where the server's start script travels: the environment, so every Odoo process's command line stays short. */
const ODOO_SERVER_VARIABLE = 'ODOO_ORCHESTRATOR_SERVER';

export type OdooRunner = 'job' | 'server';

/**
 * Command (replacing the image's entrypoint), arguments and environment entries that run `odoo <odooArgs>` on the config
 * file once the database answers: a job runs Odoo's launcher as it is, the server through odoo-server.py (ready for its
 * first requests sooner), read from the environment and taken out of it before Odoo starts. The arguments are the same
 * either way; a plan change or a restart replaces command, arguments and environment together (odooServerTask).
 */
export function odooLaunch(odooArgs: string[], runs: OdooRunner): { Command: string[]; Args: string[]; Env: string[] } {
  const server = runs === 'server';
  return {
    Command: [
      'python3',
      '-c',
      WAIT_FOR_DATABASE,
      ODOO_CONFIG_PATH,
      ...(server ? ['python3', '-c', `import os; exec(os.environ.pop('${ODOO_SERVER_VARIABLE}'))`] : []),
    ],
    Args: ['odoo', '-c', ODOO_CONFIG_PATH, ...odooArgs],
    Env: server ? [`${ODOO_SERVER_VARIABLE}=${ODOO_SERVER}`] : [],
  };
}
