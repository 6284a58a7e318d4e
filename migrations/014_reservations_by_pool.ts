import { sql, type Kysely } from 'kysely';

/**
 * The reservations in flight on each pool, counted when a slot is taken (a pool with fewer DDL runs pending is
 * preferred): only reserved rows are indexed, so the count reads a handful of entries however many tenants a pool holds.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index instances_reserved_by_pool on instances (db_server_id) where db_allocation = 'reserved'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index instances_reserved_by_pool`.execute(db);
}
