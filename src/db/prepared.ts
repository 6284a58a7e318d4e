import { createHash } from 'node:crypto';
import type { PostgresCursor, PostgresPoolClient } from 'kysely';
import pg from 'pg';

/** Past this many statements prepared on one connection, further ones are sent unnamed: a bound on the server's memory. */
const PREPARED_PER_CONNECTION = 200;

/** A connection's prepared statements: their names carry a generation, renewed when the schema changed under them. */
interface Prepared {
  generation: number;
  names: Set<string>;
}

const preparedOn = new WeakMap<pg.PoolClient, Prepared>();

/** A statement's name on the server: its text's hash, so the same text is the same prepared statement. */
const statementName = (generation: number, text: string): string => `k${generation}_${createHash('sha1').update(text).digest('base64url')}`;

/** PostgreSQL refuses a prepared statement whose result columns changed since it was prepared (a migration added one). */
const isStalePlan = (error: unknown): boolean =>
  error instanceof pg.DatabaseError && error.code === '0A000' && /cached plan must not change result type/.test(error.message);

/**
 * A pooled connection whose parameterised statements are prepared once and then reused: the server parses each of
 * the daemon's statement shapes once per connection instead of at every call (a few tenths of a millisecond each on
 * allocation's path). Statements without parameters (BEGIN, COMMIT, migrations) go through as they are. When a
 * migration (say, another replica's, during a rolling upgrade) changed what a prepared statement returns, the
 * connection prepares its statements afresh, and the statement is run again unless a transaction it was part of
 * has failed with it.
 */
export function preparingClient(client: pg.PoolClient): PostgresPoolClient {
  const prepared = preparedOn.get(client) ?? { generation: 0, names: new Set<string>() };
  preparedOn.set(client, prepared);

  const run = (text: string, values: unknown[]) => {
    const name = statementName(prepared.generation, text);
    if (!prepared.names.has(name)) {
      if (prepared.names.size >= PREPARED_PER_CONNECTION) return client.query(text, values);
      prepared.names.add(name);
    }
    return client.query({ name, text, values });
  };

  async function runAgainIfStale(text: string, values: unknown[]) {
    try {
      return await run(text, values);
    } catch (error) {
      if (!isStalePlan(error)) throw error;
      prepared.generation += 1;
      prepared.names.clear();
      if (client.getTransactionStatus() !== 'I') throw error;
      return run(text, values);
    }
  }

  function query(textOrCursor: string | PostgresCursor<unknown>, parameters: ReadonlyArray<unknown> = []) {
    if (typeof textOrCursor !== 'string') return client.query(textOrCursor as unknown as pg.Submittable);
    return parameters.length === 0 ? client.query(textOrCursor) : runAgainIfStale(textOrCursor, [...parameters]);
  }
  return { query: query as unknown as PostgresPoolClient['query'], release: (destroy?: boolean) => client.release(destroy) };
}
