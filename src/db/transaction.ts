import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';

/** A handle statements run on: the database, or a transaction of it. */
export type Executor = Kysely<Database> | Transaction<Database>;

const pending = new WeakMap<Transaction<Database>, (() => void)[]>();

/**
 * Runs `work` in a transaction; what it hands to `afterCommit` runs once the transaction has committed, and never
 * when it rolls back (an event about a change nobody will see must not be published).
 */
export async function withTransaction<T>(db: Kysely<Database>, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  const queue: (() => void)[] = [];
  const result = await db.transaction().execute((trx) => {
    pending.set(trx, queue);
    return work(trx);
  });
  for (const action of queue) action();
  return result;
}

/** Defers `action` until `executor`'s transaction commits; outside withTransaction (a plain handle) it runs now. */
export function afterCommit(executor: Executor, action: () => void): void {
  const queue = executor.isTransaction ? pending.get(executor as Transaction<Database>) : undefined;
  if (queue) queue.push(action);
  else action();
}
