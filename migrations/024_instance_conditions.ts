import { sql, type Kysely } from 'kysely';

/**
 * One `error` column meant four things (why allocation waits, why the service or its init failed, why a load or a
 * module change failed, why the final backup blocks a termination), and each writer cleared the others' reasons.
 * `conditions` keeps one per phase (`{ phase: { reason, since } }`). An existing error goes to the phase its status
 * says it came from. `error` itself stays, unread, for one release: a replica of the previous version still runs
 * beside this one during a rolling update, and its writes name the column. A later migration drops it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('instances')
    .addColumn('conditions', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  await sql`
    update instances set conditions = jsonb_build_object(
      case
        when status in ('CREATING', 'WAITING_FOR_DATABASE') then 'allocation'
        when status = 'TERMINATING' then 'finalBackup'
        when status = 'PROVISIONING' and service_id is null then 'initialisation'
        when status in ('RUNNING', 'STOPPED', 'SUSPENDED') then 'moduleChange'
        else 'service'
      end,
      jsonb_build_object('reason', error, 'since', updated_at))
    where error is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    update instances set error = (
      select value ->> 'reason' from jsonb_each(conditions) order by value ->> 'since' desc limit 1)`.execute(db);
  await db.schema.alterTable('instances').dropColumn('conditions').execute();
}
