import pg from 'pg';

/** How the daemon reaches a pool's PostgreSQL server as its admin. */
export interface PoolAdminAccess {
  host: string;
  port: number;
  adminUser: string;
  adminPassword: string;
}

/** A connection as the pool's admin: a fresh one (withPoolAdmin) or one lent by the pool's connection pool. */
export type AdminClient = pg.ClientBase;

export interface TenantDatabase {
  database: string;
  role: string;
}

export const ADMIN_CONNECT_TIMEOUT_MS = 5_000;
export const ADMIN_QUERY_TIMEOUT_MS = 60_000;

/** Runs `work` on a fresh admin connection to the pool (to `database`, `postgres` unless given), always closing it. */
export async function withPoolAdmin<T>(
  access: PoolAdminAccess,
  work: (client: pg.Client) => Promise<T>,
  connectTimeoutMs = ADMIN_CONNECT_TIMEOUT_MS,
  database = 'postgres',
): Promise<T> {
  const client = new pg.Client({
    host: access.host,
    port: access.port,
    user: access.adminUser,
    password: access.adminPassword,
    database,
    connectionTimeoutMillis: connectTimeoutMs,
    query_timeout: ADMIN_QUERY_TIMEOUT_MS,
    application_name: 'odoo-orchestrator',
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Throws unless the admin can create roles and databases (what allocation needs). */
export async function assertCanHostTenants(client: AdminClient): Promise<void> {
  const { rows } = await client.query<{ rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean }>(
    'select rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = current_user',
  );
  const role = rows[0];
  if (!role || !(role.rolsuper || (role.rolcreaterole && role.rolcreatedb))) {
    throw new Error('the admin user needs CREATEROLE and CREATEDB (or SUPERUSER)');
  }
}

/** SQLSTATEs of what an interrupted try may have left: the role, the database. */
const DUPLICATE_OBJECT = '42710';
export const DUPLICATE_DATABASE = '42P04';

export const hasCode = (error: unknown, code: string): boolean => error instanceof pg.DatabaseError && error.code === code;

/** Runs work on an admin connection inside database `database` of the same pool server. */
export type InDatabase = (database: string, work: (client: AdminClient) => Promise<void>) => Promise<void>;

/**
 * A database as Odoo makes one itself (odoo/service/db.py): from template0, UTF8, `LC_COLLATE 'C'` (its indexes serve
 * `like` searches), owned by the tenant's role and closed to PUBLIC. Odoo then creates pg_trgm in it; in a database
 * that already exists it does not, and silently makes none of its trigram indexes. Idempotent.
 */
export async function createOdooDatabase(client: AdminClient, database: string, role: string, inDatabase: InDatabase): Promise<void> {
  const name = client.escapeIdentifier(database);
  const owner = client.escapeIdentifier(role);
  try {
    await client.query(`create database ${name} owner ${owner} template template0 encoding 'UTF8' lc_collate 'C'`);
  } catch (error) {
    if (!hasCode(error, DUPLICATE_DATABASE)) throw error;
  }
  await Promise.all([
    client.query(`revoke all on database ${name} from public; grant connect, temporary on database ${name} to ${owner}`),
    // pg_trgm is a trusted extension: the role that owns the database may create it, and then owns it, as when Odoo
    // creates it (a dump of the tenant's restores as its role, COMMENT ON EXTENSION included).
    inDatabase(database, (inside) =>
      inside.query(`set role ${owner}; create extension if not exists pg_trgm; reset role`).then(() => undefined),
    ),
  ]);
}

/**
 * Makes `tenant.role` (LOGIN, the password behind `verifier`, a connection limit) and `tenant.database` owned by it,
 * as Odoo makes its databases (createOdooDatabase). `verifier` comes from scramSha256VerifierAsync: the plaintext never
 * reaches the server. Three round trips and a login into the new database (statements that may share a transaction
 * are sent together; CREATE DATABASE cannot). Idempotent: a role left by an interrupted try is given the new password,
 * an existing database is kept.
 */
export async function ensureTenantDatabase(
  client: AdminClient,
  tenant: TenantDatabase,
  verifier: string,
  connectionLimit: number,
  inDatabase: InDatabase,
): Promise<void> {
  await ensureTenantRole(client, tenant.role, verifier, connectionLimit);
  await createOdooDatabase(client, tenant.database, tenant.role, inDatabase);
}

/**
 * Makes `name` a LOGIN role with the password behind `verifier` and a connection limit, the admin a member of it (to
 * make and hand over what it owns). Idempotent: a role left by an interrupted try is given the new password.
 */
export async function ensureTenantRole(client: AdminClient, name: string, verifier: string, connectionLimit: number): Promise<void> {
  const role = client.escapeIdentifier(name);
  const login = `login password ${client.escapeLiteral(verifier)} connection limit ${Math.trunc(connectionLimit)}`;
  // A non-superuser admin (PostgreSQL 15) must be a member of the owner to create a database owned by it.
  const adminJoinsRole = `grant ${role} to current_user`;
  try {
    // The role must INHERIT: it owns the schema `public` through its implicit membership of pg_database_owner (15+).
    await client.query(`create role ${role} with nosuperuser nocreatedb nocreaterole ${login}; ${adminJoinsRole}`);
  } catch (error) {
    if (!hasCode(error, DUPLICATE_OBJECT)) throw error;
    await client.query(`alter role ${role} with ${login}; ${adminJoinsRole}`);
  }
}

/**
 * Gives an existing role the password behind `verifier` (a SCRAM-SHA-256 verifier from scramSha256VerifierAsync), so the
 * plaintext never reaches the server. Re-issuing credentials goes through here.
 */
export async function setRolePassword(client: AdminClient, role: string, verifier: string): Promise<void> {
  await client.query(`alter role ${client.escapeIdentifier(role)} with password ${client.escapeLiteral(verifier)}`);
}

/** How many sessions the maintenance login may hold: the daemon's one, and a job's (pg_restore -j 2 and its leader). */
const MAINTENANCE_CONNECTION_LIMIT = 8;

/**
 * Makes (or repairs) the tenant's maintenance login: LOGIN with the password behind `verifier`, a member of the
 * tenant's role and of nothing else, so a session of it can do no more than the tenant (a tenant's trigger that runs
 * `SET ROLE NONE` in it lands here, not on the pool admin). The admin joins it only to end its sessions when the
 * tenant's database goes. Idempotent, and safe to run twice at once (a transaction-scoped advisory lock on the role's
 * name: concurrent DDL on one role fails otherwise); an existing login gets the password again (the tenant may have
 * changed it) and loses session defaults the tenant may have set on it. Two round trips.
 */
export async function ensureMaintenanceRole(
  client: AdminClient,
  names: { role: string; tenantRole: string },
  verifier: string,
): Promise<void> {
  const role = client.escapeIdentifier(names.role);
  const tenant = client.escapeIdentifier(names.tenantRole);
  const name = client.escapeLiteral(names.role);
  const login = `login password ${client.escapeLiteral(verifier)} connection limit ${MAINTENANCE_CONNECTION_LIMIT}`;
  try {
    const results = (await client.query(
      `begin; select pg_advisory_xact_lock(hashtext(${name})); select 1 from pg_roles where rolname = ${name}`,
    )) as unknown as pg.QueryResult[];
    const exists = results[2]!.rowCount === 1;
    // The attributes it was made without stay: a non-superuser admin may not even name them in ALTER ROLE.
    const ddl = exists
      ? `alter role ${role} with ${login}; alter role ${role} reset all; grant ${tenant} to ${role}`
      : `create role ${role} with nosuperuser nocreatedb nocreaterole ${login} in role ${tenant}`;
    await client.query(`${ddl}; grant ${role} to current_user; commit`);
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  }
}

/**
 * Drops the tenant's database (closing its sessions), then its roles (the maintenance login's too). A tenant may have
 * left grants or default privileges in databases open to every role (`postgres`, `template1`): `DROP ROLE` refuses
 * while any exist, so `DROP OWNED` runs first in each database holding some (`inDatabase` reaches the others).
 * Absent databases and roles are fine.
 */
export async function dropTenantDatabase(
  client: AdminClient,
  tenant: TenantDatabase & { maintenanceRole?: string },
  inDatabase?: InDatabase,
): Promise<void> {
  await client.query(`drop database if exists ${client.escapeIdentifier(tenant.database)} with (force)`);
  const wanted = [tenant.maintenanceRole, tenant.role].filter((role): role is string => role !== undefined);
  const { rows } = await client.query<{ rolname: string }>('select rolname from pg_roles where rolname = any($1)', [wanted]);
  const roles = wanted.filter((role) => rows.some((row) => row.rolname === role));
  if (roles.length === 0) return;
  const names = roles.map((role) => client.escapeIdentifier(role)).join(', ');
  await client.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = any($1) and pid <> pg_backend_pid()', [roles]);
  const elsewhere = await client.query<{ datname: string }>(
    `select distinct d.datname from pg_shdepend s join pg_database d on d.oid = s.dbid join pg_roles r on r.oid = s.refobjid
     where s.refclassid = 'pg_authid'::regclass and r.rolname = any($1) and d.datname <> current_database()`,
    [roles],
  );
  for (const { datname } of elsewhere.rows) {
    if (!inDatabase) throw new Error(`roles ${roles.join(', ')} still own objects or privileges in database ${datname}`);
    await inDatabase(datname, (other) => other.query(`drop owned by ${names}`).then(() => undefined));
  }
  await client.query(`drop owned by ${names}; drop role ${names}`);
}

/** Whether the pool answers its admin within `timeoutMs`: a login and a query, the same path allocation takes. */
export async function probePool(access: PoolAdminAccess, timeoutMs: number): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    await withPoolAdmin(access, (client) => client.query('select 1'), timeoutMs);
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: (error as Error).message || String(error) };
  }
}
