import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { connectDatabase } from '../src/db/connect.js';
import type { Database } from '../src/db/schema.js';
import './support/isolation.js';

/** The control database's statements are prepared once per connection; a migration must not break them. */
describe('prepared statements on the control database', () => {
  let db: Kysely<Database>;
  const table = `prepared_probe_${process.pid}`;
  const rows = () => sql<Record<string, unknown>>`select * from ${sql.table(table)} where id > ${0} order by id`.execute(db);

  before(async () => {
    // One connection: every statement below meets the statements the previous ones prepared.
    db = connectDatabase(process.env.DATABASE_URL!, { max: 1 });
    await sql`create table ${sql.table(table)} (id integer primary key, name text)`.execute(db);
    await sql`insert into ${sql.table(table)} values (1, 'one')`.execute(db);
  });
  after(async () => {
    await sql`drop table if exists ${sql.table(table)}`.execute(db);
    await db.destroy();
  });

  it('prepares a statement once and reuses it', async () => {
    const server = async () =>
      (await sql<{ n: number }>`select count(*)::int as n from pg_prepared_statements where statement like ${`%${table}%`}`.execute(db))
        .rows[0]!.n;
    await rows();
    await rows();
    assert.equal(await server(), 1);
  });

  it('answers with the new columns once a migration changed the table, and in a transaction from the next try', async () => {
    assert.deepEqual((await rows()).rows, [{ id: 1, name: 'one' }]);
    await sql`alter table ${sql.table(table)} add column note text default 'added'`.execute(db);
    assert.deepEqual((await rows()).rows, [{ id: 1, name: 'one', note: 'added' }]);

    await sql`alter table ${sql.table(table)} add column size integer default 2`.execute(db);
    await assert.rejects(
      db.transaction().execute((trx) => sql`select * from ${sql.table(table)} where id > ${0} order by id`.execute(trx)),
      /cached plan must not change result type/,
    );
    const again = await db.transaction().execute((trx) => sql`select * from ${sql.table(table)} where id > ${0} order by id`.execute(trx));
    assert.deepEqual(again.rows, [{ id: 1, name: 'one', note: 'added', size: 2 }]);
  });
});
