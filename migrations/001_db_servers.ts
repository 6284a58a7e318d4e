import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('db_servers')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('name', 'varchar(63)', (col) => col.notNull().unique())
    .addColumn('host', 'varchar(255)', (col) => col.notNull())
    .addColumn('port', 'integer', (col) =>
      col
        .notNull()
        .defaultTo(5432)
        .check(sql`port between 1 and 65535`),
    )
    .addColumn('server_type', 'varchar(20)', (col) => col.notNull().check(sql`server_type in ('registered', 'provisioned')`))
    .addColumn('max_instances', 'integer', (col) => col.notNull().check(sql`max_instances > 0`))
    .addColumn('current_instances', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('status', 'varchar(20)', (col) =>
      col.notNull().check(sql`status in ('provisioning', 'active', 'full', 'maintenance', 'error', 'decommissioned')`),
    )
    .addColumn('health_status', 'varchar(20)', (col) =>
      col
        .notNull()
        .defaultTo('unknown')
        .check(sql`health_status in ('unknown', 'healthy', 'degraded', 'unhealthy')`),
    )
    .addColumn('health_failures', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('last_health_check_at', 'timestamptz')
    .addColumn('last_health_error', 'text')
    .addColumn('priority', 'integer', (col) => col.notNull().defaultTo(100))
    .addColumn('admin_user', 'varchar(63)', (col) => col.notNull())
    .addColumn('admin_password_encrypted', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('db_servers_capacity', sql`current_instances >= 0 and current_instances <= max_instances`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('db_servers').execute();
}
