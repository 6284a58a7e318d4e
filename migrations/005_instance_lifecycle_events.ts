import { sql, type Kysely } from 'kysely';

const statusesV1 = ['CREATING', 'WAITING_FOR_DATABASE', 'ALLOCATED', 'PROVISIONING', 'RUNNING', 'STOPPED', 'FAILED', 'TERMINATED'];
const statusesV2 = [...statusesV1, 'STARTING', 'STOPPING', 'RESTARTING', 'TERMINATING'];

const statusCheck = (statuses: string[]) => sql`check (status in (${sql.join(statuses.map((status) => sql.lit(status)))}))`;

/** Transitional statuses for the lifecycle after RUNNING, and the history of every instance. */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table instances drop constraint instances_status_check`.execute(db);
  await sql`alter table instances add constraint instances_status_check ${statusCheck(statusesV2)}`.execute(db);

  await db.schema
    .createTable('instance_events')
    .addColumn('id', 'bigserial', (col) => col.primaryKey())
    .addColumn('instance_id', 'uuid', (col) => col.notNull().references('instances.id').onDelete('cascade'))
    .addColumn('from_status', 'varchar(30)')
    .addColumn('to_status', 'varchar(30)')
    .addColumn('cause', 'varchar(60)', (col) => col.notNull())
    .addColumn('actor', 'varchar(100)', (col) => col.notNull())
    .addColumn('message', 'text')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('instance_events_instance').on('instance_events').columns(['instance_id', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('instance_events').execute();
  await sql`alter table instances drop constraint instances_status_check`.execute(db);
  await sql`alter table instances add constraint instances_status_check ${statusCheck(statusesV1)}`.execute(db);
}
