import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { tenantDatabaseName } from '../../src/domain/names.js';
import { localPool } from './harness.js';
import { withPoolAdmin } from '../../src/db/pool-server.js';

/** Runs `work` inside `database` on the local pool as its admin (a member of every tenant's role), then closes it. */
export const withPoolDatabase = <T>(database: string, work: (client: pg.Client) => Promise<T>): Promise<T> =>
  withPoolAdmin(localPool, work, undefined, database);

/** Runs `work` inside the tenant's database as the pool admin, then closes it. */
export const withTenantCatalog = <T>(instanceId: string, work: (client: pg.Client) => Promise<T>): Promise<T> =>
  withPoolDatabase(tenantDatabaseName(instanceId), work);

export interface TenantState {
  base: string | null;
  baseWrittenAt: Date | null;
  admin: { login: string; password: string } | null;
}

/** What Odoo's tables say: base's state in ir_module_module, and the admin user (id 2) with its stored hash. */
export async function tenantState(instanceId: string): Promise<TenantState> {
  return withTenantCatalog(instanceId, async (client) => {
    const tables = await client.query<{ modules: boolean; users: boolean }>(
      "select to_regclass('ir_module_module') is not null as modules, to_regclass('res_users') is not null as users",
    );
    const base = tables.rows[0]!.modules
      ? (await client.query<{ state: string; write_date: Date }>("select state, write_date from ir_module_module where name = 'base'"))
          .rows[0]
      : undefined;
    const admin = tables.rows[0]!.users
      ? (await client.query<{ login: string; password: string }>('select login, password from res_users where id = 2')).rows[0]
      : undefined;
    return { base: base?.state ?? null, baseWrittenAt: base?.write_date ?? null, admin: admin ?? null };
  });
}

/** Whether passlib (what Odoo verifies passwords with) accepts `password` for `hash`; both travel on stdin. */
export function passlibVerifies(hash: string, password: string): boolean {
  const script =
    'import sys\nfrom passlib.hash import pbkdf2_sha512\nh, p = sys.stdin.read().split("\\n", 1)\nprint(pbkdf2_sha512.verify(p, h))';
  // Debian's python3, where python3-passlib is installed (a python3 earlier on PATH may lack it).
  const run = spawnSync('/usr/bin/python3', ['-c', script], { input: `${hash}\n${password}`, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`passlib failed: ${run.stderr}`);
  return run.stdout.trim() === 'True';
}

/** The command lines of every process on this node (containers' included) that contain `needle`. */
export function commandLinesContaining(needle: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // the process ended meanwhile
    }
    if (cmdline.includes(needle)) found.push(`${pid}: ${cmdline.replace(/\0/g, ' ')}`);
  }
  return found;
}

/** The command lines of every process on this node, for a check that the scan saw what it should. */
export function commandLinesMatching(pattern: RegExp): string[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .flatMap((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
        return pattern.test(cmdline) ? [cmdline] : [];
      } catch {
        return [];
      }
    });
}
