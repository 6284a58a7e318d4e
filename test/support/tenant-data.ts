import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { tenantDatabaseName, tenantRoleName } from '../../src/domain/names.js';
import { instanceDataDir } from '../../src/storage/layout.js';
import { localPool } from './harness.js';

/** Runs `work` in the tenant's own database as its role, as Odoo would write (the pool admin is a member of it). */
export async function withTenant<T>(
  instanceId: string,
  work: (client: pg.Client) => Promise<T>,
  database = tenantDatabaseName(instanceId),
): Promise<T> {
  const client = new pg.Client({
    host: localPool.host,
    port: localPool.port,
    user: localPool.adminUser,
    password: localPool.adminPassword,
    database,
  });
  await client.connect();
  try {
    await client.query(`set role ${client.escapeIdentifier(tenantRoleName(instanceId))}`);
    return await work(client);
  } finally {
    await client.end();
  }
}

export const partnerNames = (instanceId: string): Promise<string[]> =>
  withTenant(instanceId, async (client) =>
    (await client.query<{ name: string }>('select name from x_backup_probe order by id')).rows.map((row) => row.name),
  );

export async function writePartners(instanceId: string, names: string[]): Promise<void> {
  await withTenant(instanceId, async (client) => {
    await client.query('create table if not exists x_backup_probe (id serial primary key, name text not null)');
    for (const name of names) await client.query('insert into x_backup_probe (name) values ($1)', [name]);
  });
}

/** The tenant's filestore as Odoo lays it out: <data dir>/filestore/<database>/<2 hex>/<sha1>. */
export const filestoreDir = (cephfsRoot: string, instanceId: string) =>
  join(instanceDataDir(cephfsRoot, instanceId), 'filestore', tenantDatabaseName(instanceId));

export async function writeAttachment(cephfsRoot: string, instanceId: string, name: string, content: string | Buffer): Promise<void> {
  const dir = join(filestoreDir(cephfsRoot, instanceId), name.slice(0, 2));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, name), content);
}

/** Every file of the filestore, by its path inside it, with its content; not the one the Odoo stand-in writes at each start. */
export async function readFilestore(cephfsRoot: string, instanceId: string): Promise<Record<string, string>> {
  const root = filestoreDir(cephfsRoot, instanceId);
  const files: Record<string, string> = {};
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile() || entry.name === 'standin.json') continue;
    const path = join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
    files[path.slice(root.length + 1)] = await readFile(path, 'utf8');
  }
  return files;
}
