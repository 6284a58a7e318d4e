import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../project-root.js';

/**
 * The scripts jobs run inside a tenant's Odoo image, kept as files (shellcheck reads them; the unit tests run them with
 * stand-ins for pg_dump, psql and pg_restore) and shipped in the daemon's image beside dist/. Read once, at start-up: a daemon
 * without them stops at once rather than at its first backup.
 */
const JOB_SCRIPTS_DIR = join(projectRoot, 'src', 'swarm', 'scripts');

const read = (name: string): string => readFileSync(join(JOB_SCRIPTS_DIR, name), 'utf8');

export type JobScriptName = 'backup.sh' | 'restore.sh' | 'export.sh';

const prelude = read('sha256.sh');
const scripts: Record<JobScriptName, string> = {
  'backup.sh': read('backup.sh'),
  'restore.sh': read('restore.sh'),
  'export.sh': read('export.sh'),
};

/** What `bash -c` runs for a job: the shared functions, then the script (its shebang is a comment to bash). */
export const jobScript = (name: JobScriptName): string => `${prelude}\n${scripts[name]}`;

/** The Python that waits for the tenant's database, then execs Odoo (`python3 -c <it> <config> odoo …`). */
export const WAIT_FOR_DATABASE = read('wait-for-database.py');

/** The Python that runs a tenant's Odoo server, passed in its environment (odooLaunch): see the script for what it changes. */
export const ODOO_SERVER = read('odoo-server.py');
