import { sql, type Kysely } from 'kysely';

/**
 * What was asked of an instance, kept apart from what is seen (`status`): running, stopped, suspended or terminated.
 * Mutations and billing write it before they act, so the reconciler can finish what a failed or interrupted call began.
 * Existing rows take what their status says was asked. (A suspension billing asked for while a restore runs is still
 * `suspension_pending_at`: the restore applies it when it gives the instance back.)
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('instances')
    .addColumn('desired', 'varchar(20)', (col) =>
      col
        .notNull()
        .defaultTo('running')
        .check(sql`desired in ('running', 'stopped', 'suspended', 'terminated')`),
    )
    .execute();
  await sql`
    update instances set desired = case
      when status in ('TERMINATING', 'TERMINATED') then 'terminated'
      when status = 'SUSPENDED' then 'suspended'
      when status in ('STOPPING', 'STOPPED') then 'stopped'
      else 'running'
    end`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('instances').dropColumn('desired').execute();
}
