import { sql, type Kysely } from 'kysely';

/** Kill Bill push notifications, recorded before they are answered and kept with what became of them. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('billing_events')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('dedupe_key', 'char(64)', (col) => col.notNull().unique())
    .addColumn('event_type', 'varchar(60)', (col) => col.notNull())
    .addColumn('object_type', 'varchar(60)', (col) => col.notNull())
    .addColumn('object_id', 'uuid')
    .addColumn('account_id', 'uuid')
    .addColumn('meta_data', 'text')
    .addColumn('status', 'varchar(20)', (col) => col.notNull().check(sql`status in ('received', 'processed', 'ignored', 'failed')`))
    .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('outcome', 'text')
    .addColumn('next_attempt_at', 'timestamptz')
    .addColumn('received_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('processed_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    // Work left to do always has a time: the retry job finds it by that time alone.
    .addCheckConstraint('billing_events_due_when_open', sql`(status in ('received', 'failed')) = (next_attempt_at is not null)`)
    .execute();

  // The retry job's scan: only open events are indexed, so the index stays as small as the backlog.
  await sql`create index billing_events_due on billing_events (next_attempt_at) where status in ('received', 'failed')`.execute(db);
  await db.schema.createIndex('billing_events_status').on('billing_events').columns(['status', 'received_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('billing_events').execute();
}
