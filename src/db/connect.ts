import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

// numeric (cpu_limit) as a JS number: limits are small decimals, never money.
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (value) => Number(value));

export function connectDatabase(connectionString: string, max = 10): Kysely<Database> {
  return new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString, max }) }),
  });
}
