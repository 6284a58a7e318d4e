import { sql, type Kysely } from 'kysely';

/**
 * Ready-made tenant databases: per pool, Odoo version, image and module set, a template database initialised by the
 * init job (`odoo_templates`), from which a new tenant's database is copied instead of initialised. A tenant made from
 * one names it (`instances.template_id`). At most one template per pool and key is not RETIRED.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('odoo_templates')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('pool_id', 'uuid', (col) => col.notNull().references('db_servers.id').onDelete('cascade'))
    .addColumn('odoo_version', 'varchar(10)', (col) => col.notNull())
    .addColumn('image', 'text', (col) => col.notNull())
    .addColumn('modules', sql`text[]`, (col) => col.notNull())
    .addColumn('status', 'varchar(16)', (col) => col.notNull().check(sql`status in ('BUILDING', 'READY', 'FAILED', 'RETIRED')`))
    .addColumn('error', 'text')
    .addColumn('job_id', 'text')
    .addColumn('started_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('built_at', 'timestamptz')
    .addColumn('failed_at', 'timestamptz')
    .addColumn('retired_at', 'timestamptz')
    .execute();
  await sql`create unique index odoo_templates_key on odoo_templates (pool_id, odoo_version, image, modules) where status <> 'RETIRED'`.execute(
    db,
  );
  await db.schema
    .alterTable('instances')
    .addColumn('template_id', 'uuid', (col) => col.references('odoo_templates.id').onDelete('set null'))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('instances').dropColumn('template_id').execute();
  await db.schema.dropTable('odoo_templates').execute();
}
