import { sql, type Kysely } from 'kysely';

const restoreStatuses = (values: string[]) => sql`check (status in (${sql.join(values.map((value) => sql.lit(value)))}))`;
const before = ['PENDING', 'SAVING', 'LOADING', 'SWAPPING', 'COMPLETED', 'FAILED'];

/**
 * Each backup's off-site copy: where it is, whether its upload is done, and how far an unfinished one got (its
 * multipart uploads, so a restarted daemon resumes them). A restore from a backup whose local copy is gone fetches it
 * first (FETCHING), before the tenant is touched.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('backups')
    .addColumn('offsite_status', 'varchar(20)', (col) => col.check(sql`offsite_status in ('PENDING', 'UPLOADING', 'COMPLETED', 'FAILED')`))
    .addColumn('offsite_key', 'text')
    .addColumn('offsite_key_id', 'varchar(32)')
    .addColumn('offsite_uploaded_at', 'timestamptz')
    .addColumn('offsite_attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('offsite_next_attempt_at', 'timestamptz')
    .addColumn('offsite_error', 'text')
    .addColumn('offsite_progress', 'jsonb')
    .execute();
  await sql`create index backups_offsite_due on backups (offsite_next_attempt_at) where offsite_status in ('PENDING', 'UPLOADING')`.execute(
    db,
  );
  await sql`alter table restores drop constraint restores_status_check`.execute(db);
  await sql`alter table restores add constraint restores_status_check ${restoreStatuses(['FETCHING', ...before])}`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table restores drop constraint restores_status_check`.execute(db);
  await sql`alter table restores add constraint restores_status_check ${restoreStatuses(before)}`.execute(db);
  await sql`drop index backups_offsite_due`.execute(db);
  await db.schema
    .alterTable('backups')
    .dropColumn('offsite_status')
    .dropColumn('offsite_key')
    .dropColumn('offsite_key_id')
    .dropColumn('offsite_uploaded_at')
    .dropColumn('offsite_attempts')
    .dropColumn('offsite_next_attempt_at')
    .dropColumn('offsite_error')
    .dropColumn('offsite_progress')
    .execute();
}
