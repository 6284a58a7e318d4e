import { lstat, rename, rm } from 'node:fs/promises';
import { posix } from 'node:path';
import { assertOwnDirectory, tenantSubdir } from '../../storage/dirs.js';
import { createOdooDatabase, type AdminClient, type InDatabase } from '../../db/pool-server.js';

/** The names a restore loads beside the tenant's own, then swaps with them; short suffixes from the restore's id. */
export interface SwapNames {
  /** The tenant's database (and its filestore directory's name). */
  database: string;
  role: string;
  /** The tenant's maintenance login: the restore job's sessions are its. */
  maintenanceRole: string;
  /** The fresh database the backup is loaded into. */
  loaded: string;
  /** What the tenant's database is renamed to while swapping, dropped once the swap is done. */
  aside: string;
  /** The instance's data directory (the tenant's to write: nothing in it is followed when it is a link). */
  dataDir: string;
  /** The instance's `filestore` directory, holding `<database>`, `<database>.new-…` and `<database>.old-…`. */
  filestoreRoot: string;
  filestoreLoaded: string;
  filestoreAside: string;
}

export function swapNames(
  tenant: { database: string; role: string; maintenanceRole: string },
  restoreId: string,
  instanceDataDir: string,
): SwapNames {
  const suffix = restoreId.replace(/-/g, '').slice(0, 8);
  const { database } = tenant;
  return {
    ...tenant,
    loaded: `${database}_new_${suffix}`,
    aside: `${database}_old_${suffix}`,
    dataDir: instanceDataDir,
    filestoreRoot: posix.join(instanceDataDir, FILESTORE),
    filestoreLoaded: `${database}.new-${suffix}`,
    filestoreAside: `${database}.old-${suffix}`,
  };
}

const FILESTORE = 'filestore';

/** Whether something is at `path` (a link counts: it is never followed). */
const exists = (path: string) =>
  lstat(path).then(
    () => true,
    () => false,
  );

/** Whether the tenant's `filestore` is a directory of its own; a link there (or on the way) is refused. */
const filestoreIsOwn = (names: SwapNames) =>
  assertOwnDirectory(names.dataDir, FILESTORE).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );

/** Removes `name` from the tenant's filestore directory, unless that directory is not its own (then nothing is touched). */
async function removeFromFilestore(names: SwapNames, name: string): Promise<void> {
  if (await filestoreIsOwn(names).catch(() => false)) await rm(posix.join(names.filestoreRoot, name), { recursive: true, force: true });
}

const databaseExists = async (client: AdminClient, name: string) =>
  (await client.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1;

/**
 * Ends the sessions of the tenant's role (its Odoo), of its maintenance login (a job) and of this admin on
 * `databases`. Not DROP/ALTER … FORCE: a pool admin that is no superuser may not end autovacuum workers that way,
 * while a plain DROP or RENAME stops them.
 */
async function endSessions(client: AdminClient, databases: string[], names: SwapNames): Promise<void> {
  await client.query(
    'select pg_terminate_backend(pid) from pg_stat_activity where datname = any($1) and usename in ($2, $3, current_user) and pid <> pg_backend_pid()',
    [databases, names.role, names.maintenanceRole],
  );
}

async function dropDatabase(client: AdminClient, name: string, names: SwapNames): Promise<void> {
  await endSessions(client, [name], names);
  await client.query(`drop database if exists ${client.escapeIdentifier(name)}`);
}

/**
/**
 * A fresh, empty database made as Odoo makes one (createOdooDatabase: C collation, pg_trgm, owned by the tenant's role,
 * closed to PUBLIC), and an empty filestore directory owned by Odoo's user beside the tenant's: what the backup is
 * loaded into. The directory comes last and tells the job, started meanwhile, that both are ready (a look at a
 * directory costs it nothing, a login to probe the database ~50 ms). A `filestore` that is a link (the tenant's, to
 * anywhere) is refused before anything is made.
 */
export async function createLoadTarget(client: AdminClient, names: SwapNames, odooUid: number, inDatabase: InDatabase): Promise<void> {
  await tenantSubdir(names.dataDir, FILESTORE, odooUid);
  await rm(posix.join(names.filestoreRoot, names.filestoreLoaded), { recursive: true, force: true });
  await dropDatabase(client, names.loaded, names);
  await createOdooDatabase(client, names.loaded, names.role, inDatabase);
  // The job, running as the tenant's uid, starts writing once the directory appears: it appears already the tenant's
  // (made and given aside, then renamed into place).
  const making = `${names.filestoreLoaded}.making`;
  await rm(posix.join(names.filestoreRoot, making), { recursive: true, force: true });
  await tenantSubdir(names.dataDir, posix.join(FILESTORE, making), odooUid);
  await rename(posix.join(names.filestoreRoot, making), posix.join(names.filestoreRoot, names.filestoreLoaded));
}

/** Removes what a failed load left: the fresh database and the sibling filestore directory. */
export async function dropLoadTarget(client: AdminClient, names: SwapNames): Promise<void> {
  await dropDatabase(client, names.loaded, names);
  await removeFromFilestore(names, names.filestoreLoaded);
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
  // Renames inside it only: a `filestore` that became a link is refused, never followed.
  await assertOwnDirectory(names.dataDir, FILESTORE);
  // An earlier try may have swapped the filestore already (the loaded directory is gone, the replaced one aside).
  const filestoreMoved = (await exists(loaded)) || (await exists(aside));
  if (await exists(loaded)) {
    if (await exists(current)) await rename(current, aside);
    await rename(loaded, current);
  }
  try {
    if (await databaseExists(client, names.loaded)) {
      await endSessions(client, [names.database, names.loaded], names);
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
  await dropDatabase(client, names.aside, names);
  await removeFromFilestore(names, names.filestoreAside);
}
