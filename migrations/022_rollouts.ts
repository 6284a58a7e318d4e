import { sql, type Kysely } from 'kysely';

/**
 * Rollouts of a new build of an Odoo version (`rolloutOdooVersion`): the rollout, its tenants in the order they are
 * taken (a batch at a time) and what happened to each, as events. Each tenant's update is a module change of kind
 * `rollout` (`-u all` on the new image), which records the spec it replaces and is checked once the tenant runs
 * (VERIFYING). A tenant can be pinned to the image it runs: rollouts pass it by.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('rollouts')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('odoo_version', 'varchar(10)', (col) => col.notNull())
    .addColumn('image', 'text', (col) => col.notNull())
    .addColumn('batch_size', 'integer', (col) => col.notNull().check(sql`batch_size between 1 and 50`))
    .addColumn('status', 'varchar(20)', (col) => col.notNull().check(sql`status in ('RUNNING', 'COMPLETED', 'FAILED')`))
    .addColumn('actor', 'varchar(100)', (col) => col.notNull())
    .addColumn('error', 'text')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .execute();
  await sql`create unique index rollouts_one_running on rollouts (odoo_version) where status = 'RUNNING'`.execute(db);

  await db.schema
    .createTable('rollout_tenants')
    .addColumn('rollout_id', 'uuid', (col) => col.notNull().references('rollouts.id').onDelete('cascade'))
    .addColumn('instance_id', 'uuid', (col) => col.notNull().references('instances.id').onDelete('cascade'))
    .addColumn('position', 'integer', (col) => col.notNull())
    .addColumn('status', 'varchar(20)', (col) =>
      col.notNull().check(sql`status in ('PENDING', 'UPDATING', 'COMPLETED', 'FAILED', 'SKIPPED')`),
    )
    .addColumn('module_change_id', 'uuid', (col) => col.references('module_changes.id').onDelete('set null'))
    .addColumn('error', 'text')
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('rollout_tenants_pk', ['rollout_id', 'instance_id'])
    .execute();

  await db.schema
    .createTable('rollout_events')
    .addColumn('id', 'bigserial', (col) => col.primaryKey())
    .addColumn('rollout_id', 'uuid', (col) => col.notNull().references('rollouts.id').onDelete('cascade'))
    .addColumn('instance_id', 'uuid')
    .addColumn('message', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('rollout_events_rollout').on('rollout_events').columns(['rollout_id', 'id']).execute();

  await db.schema.alterTable('instances').addColumn('pinned_image', 'text').execute();

  await sql`alter table module_changes drop constraint module_changes_kind_check`.execute(db);
  await sql`alter table module_changes add constraint module_changes_kind_check check (kind in ('install', 'update', 'rollout'))`.execute(
    db,
  );
  await sql`alter table module_changes drop constraint module_changes_status_check`.execute(db);
  await sql`alter table module_changes add constraint module_changes_status_check
    check (status in ('SAVING', 'APPLYING', 'VERIFYING', 'ROLLING_BACK', 'SETTLING', 'COMPLETED', 'FAILED'))`.execute(db);
  await db.schema
    .alterTable('module_changes')
    .addColumn('image', 'text')
    .addColumn('previous_spec', 'jsonb')
    .addColumn('check_job_id', 'varchar(64)')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('module_changes').dropColumn('check_job_id').dropColumn('previous_spec').dropColumn('image').execute();
  await db.schema.alterTable('instances').dropColumn('pinned_image').execute();
  await db.schema.dropTable('rollout_events').execute();
  await db.schema.dropTable('rollout_tenants').execute();
  await db.schema.dropTable('rollouts').execute();
}
