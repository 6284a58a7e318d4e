import { sql, type Kysely } from 'kysely';

/**
 * A new instance's admission, called by the statement that inserts it, so the whole admission is one statement:
 * the customer's transaction-scoped lock first, then what the lock guards read afresh (a VOLATILE function's
 * queries see what committed while it waited): a live instance holding the subdomain, and the customer's live
 * instances against the limit. A refusal raises, so the statement inserts nothing: SQLSTATE IA001 when the
 * subdomain is held (DETAIL: the holder's id), IA002 at the limit (DETAIL: how many live instances).
 * Returns the customer's id, for the row being inserted.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function admit_instance(customer text, wanted_subdomain text, live_limit integer, ended_statuses text[])
    returns uuid
    language plpgsql volatile
    as $$
    declare
      holder uuid;
      live bigint;
    begin
      perform pg_advisory_xact_lock(hashtextextended('customer:' || customer, 0));
      select id into holder from instances where subdomain = wanted_subdomain and status <> 'TERMINATED';
      if holder is not null then
        raise exception 'subdomain % is held by instance %', wanted_subdomain, holder using errcode = 'IA001', detail = holder::text;
      end if;
      select count(*) into live from instances where customer_id = customer::uuid and status <> all (ended_statuses);
      if live >= live_limit then
        raise exception 'customer % has % live instances', customer, live using errcode = 'IA002', detail = live::text;
      end if;
      return customer::uuid;
    end
    $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function admit_instance(text, text, integer, text[])`.execute(db);
}
