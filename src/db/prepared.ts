import { createHash } from 'node:crypto';
import type { PostgresCursor, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

/** Past this many statements prepared on one connection, further ones are sent unnamed: a bound on the server's memory. */
export const PREPARED_PER_CONNECTION = 200;

const preparedOn = new WeakMap<pg.PoolClient, Set<string>>();

/** A statement's name on the server: its text's hash, so the same text is the same prepared statement. */
export const statementName = (text: string): string => `k${createHash('sha1').update(text).digest('base64url')}`;

/**
 * A pooled connection whose parameterised statements are prepared once and then reused: the server parses each of
 * the daemon's statement shapes once per connection instead of at every call (a few tenths of a millisecond each on
 * allocation's path). Statements without parameters (BEGIN, COMMIT, migrations) go through as they are.
 */
export function preparingClient(client: pg.PoolClient): PostgresPoolClient {
  const prepared = preparedOn.get(client) ?? new Set<string>();
  preparedOn.set(client, prepared);
  function query(textOrCursor: string | PostgresCursor<unknown>, parameters: ReadonlyArray<unknown> = []) {
    if (typeof textOrCursor !== 'string') return client.query(textOrCursor as unknown as pg.Submittable);
    const values = [...parameters];
    if (values.length === 0) return client.query(textOrCursor);
    const name = statementName(textOrCursor);
    if (!prepared.has(name)) {
      if (prepared.size >= PREPARED_PER_CONNECTION) return client.query(textOrCursor, values);
      prepared.add(name);
    }
    return client.query({ name, text: textOrCursor, values });
  }
  return { query: query as unknown as PostgresPoolClient['query'], release: (destroy?: boolean) => client.release(destroy) };
}
