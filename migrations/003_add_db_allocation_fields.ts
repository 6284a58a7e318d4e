import { sql, type Kysely } from 'kysely';

/** The seed's `08-add-db-allocation-fields.sql`: which pool an instance's database lives on. No credentials. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('instances')
    .addColumn('db_server_id', 'uuid', (col) => col.references('db_servers.id'))
    .addColumn('db_host', 'varchar(255)')
    .addColumn('db_port', 'integer', (col) => col.defaultTo(5432))
    .execute();
  await db.schema.createIndex('idx_instances_db_server_id').on('instances').column('db_server_id').execute();
  await sql`comment on column instances.db_server_id is 'ID of the postgres pool the database was allocated on'`.execute(db);
  await sql`comment on column instances.db_host is 'Host tenants use to reach the pool (e.g. postgres-pool-1)'`.execute(db);
  await sql`comment on column instances.db_port is 'Port of the postgres pool (default 5432)'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('idx_instances_db_server_id').execute();
  await db.schema.alterTable('instances').dropColumn('db_server_id').dropColumn('db_host').dropColumn('db_port').execute();
}
