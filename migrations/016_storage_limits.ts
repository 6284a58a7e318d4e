import { sql, type Kysely } from 'kysely';

/**
 * Storage limits and usage. A plan's storage limit (bytes; null: none) is copied onto each instance on it, like its CPU
 * and memory, and becomes the CephFS quota of the instance's data dir. `instance_usage` holds what the leader last
 * measured of each instance (filestore and backups from CephFS's rbytes, database from pg_database_size) and since when
 * it has stored more than its limit.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('plans').addColumn('storage_limit_bytes', 'bigint').execute();
  await db.schema.alterTable('instances').addColumn('storage_limit_bytes', 'bigint').execute();
  await db.schema
    .createTable('instance_usage')
    .addColumn('instance_id', 'uuid', (column) => column.primaryKey().references('instances.id').onDelete('cascade'))
    .addColumn('filestore_bytes', 'bigint')
    .addColumn('database_bytes', 'bigint')
    .addColumn('backup_bytes', 'bigint')
    .addColumn('measured_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addColumn('over_limit_since', 'timestamptz')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('instance_usage').execute();
  await db.schema.alterTable('instances').dropColumn('storage_limit_bytes').execute();
  await db.schema.alterTable('plans').dropColumn('storage_limit_bytes').execute();
}
