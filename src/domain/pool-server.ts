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
const DUPLICATE_DATABASE = '42P04';

const hasCode = (error: unknown, code: string): boolean => error instanceof pg.DatabaseError && error.code === code;

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
  const role = client.escapeIdentifier(tenant.role);
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
  await createOdooDatabase(client, tenant.database, tenant.role, inDatabase);
}

/**
 * Gives an existing role the password behind `verifier` (a SCRAM-SHA-256 verifier from scramSha256VerifierAsync), so the
 * plaintext never reaches the server. Re-issuing credentials goes through here.
 */
export async function setRolePassword(client: AdminClient, role: string, verifier: string): Promise<void> {
  await client.query(`alter role ${client.escapeIdentifier(role)} with password ${client.escapeLiteral(verifier)}`);
}

/** Drops the tenant's database (closing its sessions) and role; absent ones are fine. */
export async function dropTenantDatabase(client: AdminClient, tenant: TenantDatabase): Promise<void> {
  await client.query(`drop database if exists ${client.escapeIdentifier(tenant.database)} with (force)`);
  await client.query(`drop role if exists ${client.escapeIdentifier(tenant.role)}`);
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
