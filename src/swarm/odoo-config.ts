/**
 * How a tenant's Odoo is configured and started, whichever Swarm service runs it: its settings come from one
 * config file held in a Docker secret (the password included), so no command line carries the password.
 */

const MIB = 1024 * 1024;
/** Below this a worker cannot load a registry: fewer workers rather than starved ones. */
const MIN_PROCESS_MEMORY = 256 * MIB;
/** What the main and gevent processes and the page cache keep of the container's memory limit. */
const WORKER_MEMORY_SHARE = 0.9;
const SOFT_SHARE = 0.8;

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
  /** Bytes per worker process: above the soft limit a worker is recycled after its request, above the hard one killed. */
  limitMemorySoft: number;
  limitMemoryHard: number;
}

/**
 * Pure: multi-process settings from the instance's limits. Odoo's rule of thumb is 2 workers per core plus one,
 * never fewer than 2, and no more than the memory limit can hold at MIN_PROCESS_MEMORY each; Odoo's memory limits
 * are per process, so the limit is shared out over the workers and cron workers.
 */
export function odooProductionSettings(limits: { cpuLimit: number; memoryLimitMb: number }): OdooProductionSettings {
  const maxCronThreads = limits.cpuLimit >= 2 ? 2 : 1;
  const budget = limits.memoryLimitMb * MIB * WORKER_MEMORY_SHARE;
  const byCpu = Math.floor(limits.cpuLimit * 2) + 1;
  const byMemory = Math.floor(budget / MIN_PROCESS_MEMORY) - maxCronThreads;
  const workers = Math.max(2, Math.min(byCpu, byMemory));
  const limitMemoryHard = Math.floor(budget / (workers + maxCronThreads));
  return { workers, maxCronThreads, limitMemoryHard, limitMemorySoft: Math.floor(limitMemoryHard * SOFT_SHARE) };
}

export interface OdooConfigInput {
  db: { host: string; port: number; name: string; user: string; password: string };
  settings: OdooProductionSettings;
}

/**
 * Odoo's `--db-filter` is a Python regex in which Odoo also expands `%h` and `%d`,
 * so a database name is escaped to match only itself.
 */
export const exactDbFilter = (database: string): string =>
  `^${database.replace(/[\\^$.|?*+()[\]{}%]/g, (char) => (char === '%' ? '\\x25' : `\\${char}`))}$`;

/** Pure: the `[options]` file Odoo reads with `-c`. Values are single-line by construction; anything else is refused. */
export function odooConfigFile(input: OdooConfigInput): string {
  const { db, settings } = input;
  const options: [string, string | number][] = [
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
    ['workers', settings.workers],
    ['max_cron_threads', settings.maxCronThreads],
    ['limit_memory_soft', settings.limitMemorySoft],
    ['limit_memory_hard', settings.limitMemoryHard],
  ];
  const lines = options.map(([key, value]) => {
    const text = String(value);
    if (/[\r\n]/.test(text)) throw new Error(`odoo config value for ${key} spans lines`);
    return `${key} = ${text}`;
  });
  return `[options]\n${lines.join('\n')}\n`;
}

/**
 * Waits until the database server accepts the tenant's login (what the official image's wait-for-psql.py does,
 * which takes the password on its command line), reading the settings from the config file, then execs the
 * command after it. python3 and psycopg2 are in the official image. The script holds no secret.
 * A refused password fails at once: waiting helps a server that is away or starting, never a wrong password.
 */
const WAIT_FOR_DATABASE = `
import configparser, os, sys, time
import psycopg2
conf = configparser.RawConfigParser()
conf.read(sys.argv[1])
o = dict(conf.items('options'))
deadline = time.time() + 30
while True:
    try:
        psycopg2.connect(dbname='postgres', host=o['db_host'], port=o['db_port'], user=o['db_user'],
                         password=o['db_password'], connect_timeout=5).close()
        break
    except psycopg2.OperationalError as error:
        if time.time() >= deadline or 'password authentication failed' in str(error):
            print('Database connection failure: %s' % error, file=sys.stderr)
            sys.exit(1)
        time.sleep(1)
os.execvp(sys.argv[2], sys.argv[2:])
`.trimStart();

/** Command (replacing the image's entrypoint) and arguments that run `odoo <odooArgs>` on the config file. */
export const odooLaunch = (odooArgs: string[]): { Command: string[]; Args: string[] } => ({
  Command: ['python3', '-c', WAIT_FOR_DATABASE, ODOO_CONFIG_PATH],
  Args: ['odoo', '-c', ODOO_CONFIG_PATH, ...odooArgs],
});
