import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { unavailable } from '../errors.js';
import { preparingClient } from './prepared.js';
import type { Database } from './schema.js';

// numeric (cpu_limit) as a JS number: limits are small decimals, never money.
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (value) => Number(value));

export interface DatabaseOptions {
  max?: number;
  /** Where a dropped connection is reported; without it, pg's unhandled 'error' event would end the process. */
  onError?: (error: Error) => void;
  /** Server-side bounds on each statement and on each wait for a row lock; 0 leaves PostgreSQL's default. */
  statementTimeoutMs?: number;
  lockTimeoutMs?: number;
  /** A transaction left open this long (say, its caller stuck on another service) is ended by the server. */
  idleInTransactionTimeoutMs?: number;
  /** How long a caller waits for a connection (a full pool, or a server that does not answer). */
  connectTimeoutMs?: number;
}

export function connectDatabase(connectionString: string, options: DatabaseOptions | number = {}): Kysely<Database> {
  const o = typeof options === 'number' ? { max: options } : options;
  const report = o.onError ?? (() => undefined);
  const pool = new pg.Pool({
    connectionString,
    max: o.max ?? 10,
    keepAlive: true,
    connectionTimeoutMillis: o.connectTimeoutMs ?? 5000,
    ...(o.statementTimeoutMs ? { statement_timeout: o.statementTimeoutMs } : {}),
    ...(o.lockTimeoutMs ? { lock_timeout: o.lockTimeoutMs } : {}),
    ...(o.idleInTransactionTimeoutMs ? { idle_in_transaction_session_timeout: o.idleInTransactionTimeoutMs } : {}),
  });
  // An idle client's error reaches the pool; a checked-out client's reaches the client (its query fails on its own).
  pool.on('error', report);
  pool.on('connect', (client) => client.on('error', report));
  // A connection that cannot be had (server down, starting, or not answering) is the control database's absence.
  const connect = () =>
    pool.connect().then(preparingClient, (error: Error & { code?: string }) => {
      throw Object.assign(unavailable('postgres', error.message || error.code || 'no connection'), { cause: error });
    });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: { connect, end: () => pool.end() } }) });
}
