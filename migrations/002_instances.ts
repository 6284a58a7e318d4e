import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('instances')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('customer_id', 'uuid', (col) => col.notNull())
    .addColumn('name', 'varchar(100)', (col) => col.notNull())
    .addColumn('subdomain', 'varchar(63)', (col) => col.notNull())
    .addColumn('odoo_version', 'varchar(10)', (col) => col.notNull())
    .addColumn('admin_email', 'varchar(254)', (col) => col.notNull())
    .addColumn('subscription_id', 'varchar(100)')
    .addColumn('cpu_limit', 'numeric(5, 2)', (col) => col.notNull().check(sql`cpu_limit > 0`))
    .addColumn('memory_limit_mb', 'integer', (col) => col.notNull().check(sql`memory_limit_mb >= 128`))
    .addColumn('status', 'varchar(30)', (col) =>
      col
        .notNull()
        .check(
          sql`status in ('CREATING', 'WAITING_FOR_DATABASE', 'ALLOCATED', 'PROVISIONING', 'RUNNING', 'STOPPED', 'FAILED', 'TERMINATED')`,
        ),
    )
    .addColumn('status_changed_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('service_name', 'varchar(63)')
    .addColumn('service_id', 'varchar(64)')
    .addColumn('error', 'text')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createIndex('instances_subdomain_live')
    .on('instances')
    .column('subdomain')
    .unique()
    .where(sql.ref('status'), '<>', 'TERMINATED')
    .execute();
  await db.schema.createIndex('instances_status').on('instances').columns(['status', 'status_changed_at']).execute();
  await db.schema.createIndex('instances_customer').on('instances').columns(['customer_id', 'created_at']).execute();
  await db.schema.createIndex('instances_subscription').on('instances').column('subscription_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('instances').execute();
}
