import { sql, type Kysely } from 'kysely';

/** Pools the daemon runs as Swarm services: how it reaches them, what tenants are given, and why each was made. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('db_servers')
    .addColumn('tenant_host', 'varchar(255)')
    .addColumn('tenant_port', 'integer')
    .addColumn('service_name', 'varchar(63)')
    .addColumn('service_id', 'varchar(64)')
    .addColumn('published_port', 'integer', (col) => col.unique())
    .addColumn('cpu_limit', 'numeric(5, 2)')
    .addColumn('memory_limit_mb', 'integer')
    .addColumn('provision_reason', 'varchar(20)', (col) => col.check(sql`provision_reason in ('admin', 'growth')`))
    .addColumn('status_reason', 'text')
    .addColumn('status_changed_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  // However many instances wait, and across restarts: one pool at most is being made for growth.
  await sql`create unique index db_servers_one_growth_in_flight on db_servers (provision_reason)
    where status = 'provisioning' and provision_reason = 'growth'`.execute(db);

  // Gap-free pool numbers: taken in the transaction that inserts the pool, so a failure gives the number back.
  await db.schema
    .createTable('pool_name_counter')
    .addColumn('singleton', 'boolean', (col) =>
      col
        .primaryKey()
        .defaultTo(true)
        .check(sql`singleton`),
    )
    .addColumn('last_number', 'integer', (col) => col.notNull())
    .execute();
  await sql`insert into pool_name_counter (singleton, last_number) values (true, 0)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('pool_name_counter').execute();
  await sql`drop index db_servers_one_growth_in_flight`.execute(db);
  await db.schema
    .alterTable('db_servers')
    .dropColumn('tenant_host')
    .dropColumn('tenant_port')
    .dropColumn('service_name')
    .dropColumn('service_id')
    .dropColumn('published_port')
    .dropColumn('cpu_limit')
    .dropColumn('memory_limit_mb')
    .dropColumn('provision_reason')
    .dropColumn('status_reason')
    .dropColumn('status_changed_at')
    .execute();
}
