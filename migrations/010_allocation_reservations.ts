import { sql, type Kysely } from 'kysely';

/**
 * A slot is reserved on a pool (the pool's counter bumped and the instance row naming the pool, committed together)
 * before the role and database are made outside any lock, then confirmed `ready`. A reservation whose lease ran out
 * was left by a daemon that stopped mid-way: the retry job finishes or releases it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('instances')
    .addColumn('db_allocation', 'varchar(10)', (col) => col.check(sql`db_allocation in ('reserved', 'ready')`))
    .addColumn('db_reserved_until', 'timestamptz')
    .execute();
  await sql`update instances set db_allocation = 'ready' where db_server_id is not null`.execute(db);
  await sql`alter table instances add constraint instances_db_allocation_names_pool check ((db_allocation is null) = (db_server_id is null))`.execute(
    db,
  );
  await sql`alter table instances add constraint instances_db_reservation_has_lease check ((db_allocation = 'reserved') = (db_reserved_until is not null))`.execute(
    db,
  );
  // The retry job's scan for abandoned reservations: as small as the reservations in progress.
  await sql`create index instances_db_reserved_until on instances (db_reserved_until) where db_allocation = 'reserved'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  // The columns' constraints and partial index go with them.
  await db.schema.alterTable('instances').dropColumn('db_reserved_until').dropColumn('db_allocation').execute();
}
