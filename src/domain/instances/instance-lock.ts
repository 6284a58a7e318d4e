import type { Transaction } from 'kysely';
import type { Database, InstanceRow } from '../../db/schema.js';
import { notFound } from '../../errors.js';

/** The instance's row, locked until `trx` ends (concurrent actions on it queue here), or NOT_FOUND. */
export async function lockInstance(trx: Transaction<Database>, instanceId: string): Promise<InstanceRow> {
  const instance = await trx.selectFrom('instances').selectAll().where('id', '=', instanceId).forUpdate().executeTakeFirst();
  if (!instance) throw notFound('Instance', instanceId);
  return instance;
}
