import { sql, type Kysely } from 'kysely';

/**
 * Staging copies (`createStaging`): the instance a copy was made from, when it expires (STAGING_TTL_DAYS, renewable),
 * and when its neutralisation was checked: a copy is never started before.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('instances')
    .addColumn('staging_of', 'uuid', (col) => col.references('instances.id').onDelete('set null'))
    .addColumn('staging_expires_at', 'timestamptz')
    .addColumn('neutralized_at', 'timestamptz')
    .execute();
  await sql`create index instances_staging_expiry on instances (staging_expires_at) where staging_expires_at is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('instances').dropColumn('neutralized_at').dropColumn('staging_expires_at').dropColumn('staging_of').execute();
}
