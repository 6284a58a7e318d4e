import { sql, type Kysely } from 'kysely';

/**
 * When a tenant's database was initialised (by its one-shot init job), and which job does it meanwhile.
 * Instances whose service exists were initialised by that service (`--init base` in its arguments).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('instances').addColumn('initialized_at', 'timestamptz').addColumn('init_job_id', 'varchar(64)').execute();
  await sql`update instances set initialized_at = updated_at where service_id is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('instances').dropColumn('initialized_at').dropColumn('init_job_id').execute();
}
