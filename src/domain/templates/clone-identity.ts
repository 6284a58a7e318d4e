import type pg from 'pg';

/**
 * What Odoo regenerates when it restores a dump as a copy (ir.config_parameter's init(force=True)): the database's
 * uuid, its secret (it signs sessions and links: two databases must never share one) and its creation date; and the
 * base URL, now the clone's own host. One statement; a database Odoo never initialised (no ir_config_parameter) is
 * left alone.
 */
export async function renewDatabaseIdentity(client: pg.ClientBase, baseUrl: string): Promise<void> {
  const { rows } = await client.query<{ present: boolean }>("select to_regclass('ir_config_parameter') is not null as present");
  if (!rows[0]?.present) return;
  await client.query(
    `with wanted (key, value) as (values
       ('database.uuid', gen_random_uuid()::text),
       ('database.secret', gen_random_uuid()::text),
       ('database.create_date', to_char(now() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS')),
       ('web.base.url', $1::text)),
     updated as (
       update ir_config_parameter parameter set value = wanted.value, write_date = now() at time zone 'UTC'
       from wanted where parameter.key = wanted.key returning parameter.key)
     insert into ir_config_parameter (key, value) select key, value from wanted where key not in (select key from updated)`,
    [baseUrl],
  );
}
