import { sql, type Kysely } from 'kysely';

/** Every status up to backups (DEGRADED and SUSPENDED come with billing; RESTORING with backups): idempotent with 009. */
const statuses = [
  'CREATING',
  'WAITING_FOR_DATABASE',
  'ALLOCATED',
  'PROVISIONING',
  'RUNNING',
  'DEGRADED',
  'STOPPING',
  'STOPPED',
  'STARTING',
  'RESTARTING',
  'SUSPENDED',
  'RESTORING',
  'FAILED',
  'TERMINATING',
  'TERMINATED',
];
const statusesBefore = [
  'CREATING',
  'WAITING_FOR_DATABASE',
  'ALLOCATED',
  'PROVISIONING',
  'RUNNING',
  'STOPPED',
  'FAILED',
  'TERMINATED',
  'STARTING',
  'STOPPING',
  'RESTARTING',
  'TERMINATING',
];

const statusCheck = (values: string[]) => sql`check (status in (${sql.join(values.map((value) => sql.lit(value)))}))`;

/**
 * Backups (one at a time per instance, by a partial unique index) and restores (the same for restores and loads into
 * a new instance). Rows are the truth a restarted daemon resumes from.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table instances drop constraint if exists instances_status_check`.execute(db);
  await sql`alter table instances add constraint instances_status_check ${statusCheck(statuses)}`.execute(db);

  await db.schema
    .createTable('backups')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('instance_id', 'uuid', (col) => col.notNull().references('instances.id').onDelete('cascade'))
    .addColumn('kind', 'varchar(20)', (col) => col.notNull().check(sql`kind in ('MANUAL', 'SCHEDULED', 'FINAL')`))
    .addColumn('status', 'varchar(20)', (col) => col.notNull().check(sql`status in ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED')`))
    .addColumn('actor', 'varchar(100)', (col) => col.notNull())
    .addColumn('size_bytes', 'bigint')
    .addColumn('error', 'text')
    .addColumn('job_service_id', 'varchar(64)')
    .addColumn('not_before', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`create unique index backups_one_active on backups (instance_id) where status in ('PENDING', 'RUNNING')`.execute(db);
  await db.schema.createIndex('backups_instance').on('backups').columns(['instance_id', 'created_at']).execute();

  await db.schema
    .createTable('restores')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('instance_id', 'uuid', (col) => col.notNull().references('instances.id').onDelete('cascade'))
    .addColumn('backup_id', 'uuid', (col) => col.notNull().references('backups.id').onDelete('cascade'))
    .addColumn('mode', 'varchar(10)', (col) => col.notNull().check(sql`mode in ('replace', 'load')`))
    .addColumn('status', 'varchar(20)', (col) =>
      col.notNull().check(sql`status in ('PENDING', 'SAVING', 'LOADING', 'SWAPPING', 'COMPLETED', 'FAILED')`),
    )
    .addColumn('actor', 'varchar(100)', (col) => col.notNull())
    .addColumn('previous_status', 'varchar(30)')
    .addColumn('final_backup_id', 'uuid', (col) => col.references('backups.id').onDelete('set null'))
    .addColumn('job_service_id', 'varchar(64)')
    .addColumn('provision_requested_by', 'varchar(100)')
    .addColumn('error', 'text')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .execute();
  await sql`create unique index restores_one_active on restores (instance_id) where status not in ('COMPLETED', 'FAILED')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('restores').execute();
  await db.schema.dropTable('backups').execute();
  await sql`alter table instances drop constraint instances_status_check`.execute(db);
  await sql`alter table instances add constraint instances_status_check ${statusCheck(statusesBefore)}`.execute(db);
}
