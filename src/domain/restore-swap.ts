import { access, chown, mkdir, rename, rm } from 'node:fs/promises';
import { posix } from 'node:path';
import { createOdooDatabase, type AdminClient, type InDatabase } from './pool-server.js';

/** The names a restore loads beside the tenant's own, then swaps with them; short suffixes from the restore's id. */
export interface SwapNames {
  /** The tenant's database (and its filestore directory's name). */
  database: string;
  role: string;
  /** The fresh database the backup is loaded into. */
  loaded: string;
  /** What the tenant's database is renamed to while swapping, dropped once the swap is done. */
  aside: string;
  /** The instance's `filestore` directory, holding `<database>`, `<database>.new-…` and `<database>.old-…`. */
  filestoreRoot: string;
  filestoreLoaded: string;
  filestoreAside: string;
}

export function swapNames(database: string, role: string, restoreId: string, instanceDataDir: string): SwapNames {
  const suffix = restoreId.replace(/-/g, '').slice(0, 8);
  return {
    database,
    role,
    loaded: `${database}_new_${suffix}`,
    aside: `${database}_old_${suffix}`,
    filestoreRoot: posix.join(instanceDataDir, 'filestore'),
    filestoreLoaded: `${database}.new-${suffix}`,
    filestoreAside: `${database}.old-${suffix}`,
  };
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

const databaseExists = async (client: AdminClient, name: string) =>
  (await client.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1;

/**
 * Ends the sessions of the tenant's role (its Odoo) and of this admin (a job) on `databases`. Not DROP/ALTER … FORCE:
 * a pool admin that is no superuser may not end autovacuum workers that way, while a plain DROP or RENAME stops them.
 */
async function endSessions(client: AdminClient, databases: string[], role: string): Promise<void> {
  await client.query(
    'select pg_terminate_backend(pid) from pg_stat_activity where datname = any($1) and usename in ($2, current_user) and pid <> pg_backend_pid()',
    [databases, role],
  );
}

async function dropDatabase(client: AdminClient, name: string, role: string): Promise<void> {
  await endSessions(client, [name], role);
  await client.query(`drop database if exists ${client.escapeIdentifier(name)}`);
}

/**
 * A fresh, empty database made as Odoo makes one (createOdooDatabase: C collation, pg_trgm, owned by the tenant's role,
 * closed to PUBLIC), and an empty filestore directory owned by Odoo's user beside the tenant's: what the backup is
 * loaded into. The directory comes last and tells the job, started meanwhile, that both are ready (a look at a
 * directory costs it nothing, a login to probe the database ~50 ms).
 */
export async function createLoadTarget(client: AdminClient, names: SwapNames, odooUid: number, inDatabase: InDatabase): Promise<void> {
  const directory = posix.join(names.filestoreRoot, names.filestoreLoaded);
  await rm(directory, { recursive: true, force: true });
  await dropDatabase(client, names.loaded, names.role);
  await createOdooDatabase(client, names.loaded, names.role, inDatabase);
  await mkdir(names.filestoreRoot, { recursive: true });
  await chown(names.filestoreRoot, odooUid, odooUid);
  await mkdir(directory);
  await chown(directory, odooUid, odooUid);
}

/** Removes what a failed load left: the fresh database and the sibling filestore directory. */
export async function dropLoadTarget(client: AdminClient, names: SwapNames): Promise<void> {
  await dropDatabase(client, names.loaded, names.role);
  await rm(posix.join(names.filestoreRoot, names.filestoreLoaded), { recursive: true, force: true });
}

/**
 * Puts the loaded filestore and database in the tenant's place, keeping their names. Idempotent and resumable: what
 * is already swapped is left as it is. The database names change in one transaction; if that fails, the filestore
 * is swapped back, so the tenant keeps the data it had, never half of each.
 */
export async function swapIn(client: AdminClient, names: SwapNames): Promise<void> {
  const current = posix.join(names.filestoreRoot, names.database);
  const loaded = posix.join(names.filestoreRoot, names.filestoreLoaded);
  const aside = posix.join(names.filestoreRoot, names.filestoreAside);
  // An earlier try may have swapped the filestore already (the loaded directory is gone, the replaced one aside).
  const filestoreMoved = (await exists(loaded)) || (await exists(aside));
  if (await exists(loaded)) {
    if (await exists(current)) await rename(current, aside);
    await rename(loaded, current);
  }
  try {
    if (await databaseExists(client, names.loaded)) {
      await endSessions(client, [names.database, names.loaded], names.role);
      await client.query('begin');
      try {
        if (await databaseExists(client, names.database)) {
          await client.query(`alter database ${client.escapeIdentifier(names.database)} rename to ${client.escapeIdentifier(names.aside)}`);
        }
        await client.query(`alter database ${client.escapeIdentifier(names.loaded)} rename to ${client.escapeIdentifier(names.database)}`);
        await client.query('commit');
      } catch (error) {
        await client.query('rollback').catch(() => undefined);
        throw error;
      }
    }
  } catch (error) {
    if (filestoreMoved) {
      await rename(current, loaded);
      if (await exists(aside)) await rename(aside, current);
    }
    throw error;
  }
}

/** After a swap: the replaced database and filestore go (a FINAL backup holds them). */
export async function dropReplaced(client: AdminClient, names: SwapNames): Promise<void> {
  await dropDatabase(client, names.aside, names.role);
  await rm(posix.join(names.filestoreRoot, names.filestoreAside), { recursive: true, force: true });
}
