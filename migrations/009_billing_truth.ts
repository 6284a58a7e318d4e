import { sql, type Kysely } from 'kysely';

const statusesV2 = [
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
const statusesV3 = [...statusesV2, 'DEGRADED', 'SUSPENDED', 'RESTORING'];
const eventStatusesV1 = ['received', 'processed', 'ignored', 'failed'];
const eventStatusesV2 = [...eventStatusesV1, 'abandoned'];

const check = (column: string, values: string[]) => sql`check (${sql.ref(column)} in (${sql.join(values.map((value) => sql.lit(value)))}))`;

/**
 * Statuses that follow reality after RUNNING (DEGRADED) and billing (SUSPENDED; RESTORING for backups), the plan
 * catalog, an instance's plan and purge time, one live instance per subscription, and billing events that end.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table instances drop constraint instances_status_check`.execute(db);
  await sql`alter table instances add constraint instances_status_check ${check('status', statusesV3)}`.execute(db);
  await db.schema.alterTable('instances').addColumn('plan', 'varchar(60)').addColumn('purge_at', 'timestamptz').execute();
  await sql`create index instances_purge_due on instances (purge_at) where purge_at is not null`.execute(db);
  // Kill Bill ids are UUIDs in any case: kept lower-case, so that comparisons are plain equality.
  await sql`update instances set subscription_id = lower(subscription_id) where subscription_id <> lower(subscription_id)`.execute(db);
  await sql`create unique index instances_subscription_live on instances (subscription_id) where subscription_id is not null and status <> 'TERMINATED'`.execute(
    db,
  );

  await db.schema
    .createTable('plans')
    .addColumn('name', 'varchar(60)', (col) => col.primaryKey())
    .addColumn('cpu_limit', 'numeric(5, 2)', (col) => col.notNull().check(sql`cpu_limit > 0`))
    .addColumn('memory_limit_mb', 'integer', (col) => col.notNull().check(sql`memory_limit_mb >= 128`))
    .addColumn('description', 'text')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  await sql`alter table billing_events drop constraint billing_events_status_check`.execute(db);
  await sql`alter table billing_events add constraint billing_events_status_check ${check('status', eventStatusesV2)}`.execute(db);
  // A body is one delivery only within the dedupe window: the key no longer identifies a row for good.
  await sql`alter table billing_events drop constraint billing_events_dedupe_key_key`.execute(db);
  await db.schema.createIndex('billing_events_dedupe').on('billing_events').columns(['dedupe_key', 'received_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('billing_events_dedupe').execute();
  await sql`alter table billing_events add constraint billing_events_dedupe_key_key unique (dedupe_key)`.execute(db);
  await sql`alter table billing_events drop constraint billing_events_status_check`.execute(db);
  await sql`alter table billing_events add constraint billing_events_status_check ${check('status', eventStatusesV1)}`.execute(db);
  await db.schema.dropTable('plans').execute();
  await sql`drop index instances_subscription_live`.execute(db);
  await sql`drop index instances_purge_due`.execute(db);
  await db.schema.alterTable('instances').dropColumn('plan').dropColumn('purge_at').execute();
  await sql`alter table instances drop constraint instances_status_check`.execute(db);
  await sql`alter table instances add constraint instances_status_check ${check('status', statusesV2)}`.execute(db);
}
