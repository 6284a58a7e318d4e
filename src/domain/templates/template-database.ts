import type pg from 'pg';
import {
  DUPLICATE_DATABASE,
  ensureTenantRole,
  hasCode,
  type AdminClient,
  type InDatabase,
  type TenantDatabase,
} from '../../db/pool-server.js';

/**
 * A template database on a pool server, and the role its build runs Odoo as. The database itself is the pool admin's:
 * `REASSIGN OWNED` in a copy also hands over the shared objects the role owns, so the role must own none (the template
 * would go to the first tenant copied from it). The role owns what Odoo made inside, and each copy hands that over.
 */
export type TemplateDatabase = TenantDatabase;

/** A template build may hold this many sessions (Odoo's init opens a few). */
const BUILD_CONNECTION_LIMIT = 8;

/**
 * Made on WAL_LOG, PostgreSQL 15's default: measured on this machine's pool copying a 19 MB Odoo 17 `base` template,
 * a copy takes about 1 s either way (WAL_LOG 0.9-1.3 s, FILE_COPY 1.0-1.4 s; five at once 3.2-4.0 s vs 3.6-3.9 s), but
 * FILE_COPY forces two checkpoints per copy, flushing every other tenant's dirty pages on the pool at each sign-up.
 */
export const COPY_STRATEGY = 'wal_log';

/** A database that does not exist (the template was retired and dropped before this copy started). */
const INVALID_CATALOG_NAME = '3D000';

/** The template's database is gone: the caller falls back to initialising the tenant. */
export class TemplateGone extends Error {
  override readonly name = 'TemplateGone';
}

/**
 * Makes the template's role (LOGIN with the password behind `verifier`, only while it builds) and its database as Odoo
 * makes one (from template0, UTF8, `LC_COLLATE 'C'`, pg_trgm created by the role), owned by the pool admin and open to
 * the role alone. Idempotent.
 */
export async function prepareTemplateDatabase(
  client: AdminClient,
  template: TemplateDatabase,
  verifier: string,
  inDatabase: InDatabase,
): Promise<void> {
  await ensureTenantRole(client, template.role, verifier, BUILD_CONNECTION_LIMIT);
  const name = client.escapeIdentifier(template.database);
  const role = client.escapeIdentifier(template.role);
  try {
    await client.query(`create database ${name} template template0 encoding 'UTF8' lc_collate 'C'`);
  } catch (error) {
    if (!hasCode(error, DUPLICATE_DATABASE)) throw error;
  }
  await client.query(`revoke all on database ${name} from public; grant connect, temporary, create on database ${name} to ${role}`);
  await inDatabase(template.database, (inside) =>
    inside
      .query(`grant usage, create on schema public to ${role}; set role ${role}; create extension if not exists pg_trgm; reset role`)
      .then(() => undefined),
  );
}

/**
 * Closes a built template for good: no session may connect to it (none is left), it may be copied by whoever may
 * create databases (the pool admin: tenants may not), and its role can no longer log in nor reach it. Idempotent.
 */
export async function sealTemplate(client: AdminClient, template: TemplateDatabase): Promise<void> {
  const name = client.escapeIdentifier(template.database);
  const role = client.escapeIdentifier(template.role);
  await client.query(`alter database ${name} with allow_connections false`);
  await client.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [template.database]);
  await client.query(
    `alter database ${name} with is_template true; revoke all on database ${name} from ${role}; alter role ${role} with nologin password null`,
  );
}

/** Drops the template's database (waiting for copies in progress: PostgreSQL locks it against them) and its role. */
export async function dropTemplate(client: AdminClient, template: TemplateDatabase): Promise<void> {
  const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [template.database]);
  const name = client.escapeIdentifier(template.database);
  if (rowCount) {
    await client.query(`alter database ${name} with is_template false`);
    await client.query(`drop database if exists ${name} with (force)`);
  }
  const role = await client.query('select 1 from pg_roles where rolname = $1', [template.role]);
  if (role.rowCount)
    await client.query(`drop owned by ${client.escapeIdentifier(template.role)}; drop role ${client.escapeIdentifier(template.role)}`);
}

/** Work done inside a fresh copy before it is handed over, acting as the tenant's role: its identity, its admin. */
export type Personalise = (inside: pg.ClientBase) => Promise<void>;

/**
 * Makes `tenant.role` and `tenant.database` as a copy of `template` (CREATE DATABASE … TEMPLATE: no connection to the
 * template is needed, so copies run side by side), then hands it to the role: what the template's role owned in it
 * becomes the tenant's, the role's grants go, `personalise` runs as the tenant's role, and only then does the database
 * become the tenant's and open to it. Until that last step the copy is the pool admin's, closed to PUBLIC and
 * made without connections allowed, so no tenant (nor anyone else) has been in it: the admin's session in it runs
 * nothing a tenant put there. Idempotent: a copy left by an interrupted try and not yet handed over is finished; a
 * copy already handed over is left alone. Throws TemplateGone when the template no longer exists.
 */
export async function copyTemplate(
  client: AdminClient,
  from: { template: TemplateDatabase; tenant: TenantDatabase },
  secret: { verifier: string; connectionLimit: number },
  inDatabase: InDatabase,
  personalise: Personalise,
): Promise<void> {
  const { template, tenant } = from;
  await ensureTenantRole(client, tenant.role, secret.verifier, secret.connectionLimit);
  const name = client.escapeIdentifier(tenant.database);
  const owner = client.escapeIdentifier(tenant.role);
  const existing = await client.query<{ owner: string }>('select pg_get_userbyid(datdba) as owner from pg_database where datname = $1', [
    tenant.database,
  ]);
  if (existing.rows[0]?.owner === tenant.role) return;
  if (!existing.rows[0]) {
    try {
      await client.query(
        `create database ${name} template ${client.escapeIdentifier(template.database)} strategy ${COPY_STRATEGY} allow_connections false`,
      );
    } catch (error) {
      if (hasCode(error, INVALID_CATALOG_NAME)) throw new TemplateGone(`template database ${template.database} is gone`);
      if (!hasCode(error, DUPLICATE_DATABASE)) throw error;
    }
  }
  await client.query(`revoke all on database ${name} from public; alter database ${name} with allow_connections true`);
  await inDatabase(tenant.database, async (inside) => {
    const from = inside.escapeIdentifier(template.role);
    try {
      await inside.query(`begin; reassign owned by ${from} to ${owner}; drop owned by ${from}; set local role ${owner}`);
      await personalise(inside);
      await inside.query('commit');
    } catch (error) {
      await inside.query('rollback').catch(() => undefined);
      throw error;
    }
  });
  await client.query(`alter database ${name} owner to ${owner}; grant connect, temporary on database ${name} to ${owner}`);
}

/**
 * Drops the tenant's database if it is a copy never handed over (not owned by the tenant's role: a try killed half-way
 * through copyTemplate, its template gone since), so the tenant can be made empty instead. Nobody but the pool admin
 * has been in it. A database the tenant owns is left alone.
 */
export async function dropUnfinishedCopy(client: AdminClient, tenant: TenantDatabase): Promise<void> {
  const { rows } = await client.query<{ owner: string }>('select pg_get_userbyid(datdba) as owner from pg_database where datname = $1', [
    tenant.database,
  ]);
  if (rows[0] && rows[0].owner !== tenant.role)
    await client.query(`drop database ${client.escapeIdentifier(tenant.database)} with (force)`);
}
