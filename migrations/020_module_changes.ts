import { sql, type Kysely } from 'kysely';

/**
 * Module changes per tenant (`installModules` / `updateModules`): one at a time per instance, by a partial unique index.
 * The row is the truth a restarted daemon resumes from: the FINAL backup it took, the job it started, the restore
 * that rolls a failed change back.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('module_changes')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('instance_id', 'uuid', (col) => col.notNull().references('instances.id').onDelete('cascade'))
    .addColumn('kind', 'varchar(10)', (col) => col.notNull().check(sql`kind in ('install', 'update')`))
    .addColumn('modules', sql`text[]`, (col) => col.notNull())
    .addColumn('status', 'varchar(20)', (col) =>
      col.notNull().check(sql`status in ('SAVING', 'APPLYING', 'ROLLING_BACK', 'SETTLING', 'COMPLETED', 'FAILED')`),
    )
    .addColumn('actor', 'varchar(100)', (col) => col.notNull())
    .addColumn('previous_status', 'varchar(30)', (col) => col.notNull())
    .addColumn('final_backup_id', 'uuid', (col) => col.references('backups.id').onDelete('set null'))
    .addColumn('job_service_id', 'varchar(64)')
    .addColumn('restore_id', 'uuid', (col) => col.references('restores.id').onDelete('set null'))
    .addColumn('error', 'text')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .execute();
  await sql`create unique index module_changes_one_active on module_changes (instance_id) where status not in ('COMPLETED', 'FAILED')`.execute(
    db,
  );
  await db.schema.createIndex('module_changes_instance').on('module_changes').columns(['instance_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('module_changes').execute();
}
