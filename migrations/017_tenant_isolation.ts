import { sql, type Kysely } from 'kysely';

/**
 * What keeps a hostile tenant inside its own database and files, and what the daemon must remember to stay ahead of it:
 * - `tenant_logins`: each tenant's maintenance login (a member of the tenant's role only), its password sealed under
 *   MASTER_KEY. The daemon and its jobs act inside a tenant database through it, never as the pool admin. Tenants made
 *   before this migration get theirs the first time the daemon needs it.
 * - `instances.suspension_pending_at`: billing asked for a suspension while a restore ran; it applies when the restore ends.
 * - `instances.final_backup_waived_by`: an admin terminated the instance without a final backup (force).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('tenant_logins')
    .addColumn('instance_id', 'uuid', (col) => col.primaryKey().references('instances.id').onDelete('cascade'))
    .addColumn('password_encrypted', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .alterTable('instances')
    .addColumn('suspension_pending_at', 'timestamptz')
    .addColumn('final_backup_waived_by', 'varchar(100)')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('instances').dropColumn('suspension_pending_at').dropColumn('final_backup_waived_by').execute();
  await db.schema.dropTable('tenant_logins').execute();
}
