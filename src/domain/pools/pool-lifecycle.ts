import { rm } from 'node:fs/promises';
import { z } from 'zod';
import type { PoolRow, PoolStatus } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { DomainError, notFound } from '../../errors.js';
import { poolDataDir } from '../../swarm/postgres-service.js';
import { isUuid } from '../names.js';
import { removePoolService } from './pool-provisioning.js';
import { adjustableStatuses, changePoolSettings, decommission, freeSlotsSql } from './pool-state.js';
import { parseInput } from '../validation.js';

export const updatePoolInput = z.object({
  maxInstances: z.number().int().min(1, 'must be at least 1').max(10_000, 'must be at most 10000').nullish(),
  priority: z.number().int().min(0, 'must be between 0 and 1000').max(1000, 'must be between 0 and 1000').nullish(),
  maintenance: z.boolean().nullish(),
});
export type UpdatePoolInput = z.input<typeof updatePoolInput>;

/**
 * Changes a pool's capacity or priority, or takes it in or out of maintenance (no new allocations). Capacity
 * never goes below what the pool holds; `full` and `active` follow the new numbers.
 */
export async function updatePool(deps: Deps, id: string, rawInput: UpdatePoolInput): Promise<PoolRow> {
  const input = parseInput(updatePoolInput, rawInput);
  if (!isUuid(id)) throw notFound('Pool', id);
  return deps.db.transaction().execute(async (trx) => {
    const pool = await trx.selectFrom('db_servers').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    if (!pool) throw notFound('Pool', id);
    if (!adjustableStatuses.includes(pool.status))
      throw new DomainError('CONFLICT', `Pool ${pool.name} is ${pool.status} and cannot be changed now.`);
    const maxInstances = input.maxInstances ?? pool.max_instances;
    if (maxInstances < pool.current_instances) {
      throw new DomainError(
        'VALIDATION_FAILED',
        `input.maxInstances: must not be below the ${pool.current_instances} instances the pool holds`,
        'input.maxInstances',
      );
    }
    const updated = await changePoolSettings(trx, pool, {
      maxInstances,
      priority: input.priority ?? pool.priority,
      maintenance: input.maintenance,
    });
    deps.log.info({ event: 'pool.updated', poolId: id, status: updated.status, maxInstances }, 'pool updated');
    return updated;
  });
}

/**
 * Takes an empty pool out of service for good: its service and secret (when the daemon made it), and its row reads
 * `decommissioned` so instance history keeps its reference. The data directory stays unless `deleteData`.
 */
export async function decommissionPool(deps: Deps, id: string, deleteData = false): Promise<PoolRow> {
  if (!isUuid(id)) throw notFound('Pool', id);
  return deps.db.transaction().execute(async (trx) => {
    const pool = await trx.selectFrom('db_servers').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    if (!pool) throw notFound('Pool', id);
    if (pool.status === 'decommissioned') return pool;
    if (pool.current_instances > 0) {
      throw new DomainError('CONFLICT', `Pool ${pool.name} still holds ${pool.current_instances} instances; terminate or move them first.`);
    }
    if (pool.server_type === 'provisioned') {
      await removePoolService(deps, pool);
      if (deleteData) {
        deps.storage.assertAvailable();
        await rm(poolDataDir(deps.config.cephfsRoot, pool.name), { recursive: true, force: true, maxRetries: 5 });
      }
    }
    const decommissioned = await decommission(trx, pool);
    deps.log.info({ event: 'pool.decommissioned', poolId: id, pool: pool.name, deleteData }, 'pool decommissioned');
    return decommissioned;
  });
}

export interface PoolStatusStats {
  status: PoolStatus;
  pools: number;
  slotsUsed: number;
  slotsFree: number;
}

export interface PoolStats {
  pools: number;
  slotsUsed: number;
  slotsFree: number;
  byStatus: PoolStatusStats[];
}

/** Pools and slots, by status; free slots count only where allocation may place a database. */
export async function poolStats(deps: Pick<Deps, 'db'>): Promise<PoolStats> {
  const rows = await deps.db
    .selectFrom('db_servers')
    .select((eb) => [
      'status',
      eb.fn.countAll<string>().as('pools'),
      eb.fn.sum<string>('current_instances').as('used'),
      eb.fn.sum<string>(freeSlotsSql).as('free'),
    ])
    .where('status', '<>', 'decommissioned')
    .groupBy('status')
    .orderBy('status')
    .execute();
  const byStatus = rows.map((row) => ({
    status: row.status,
    pools: Number(row.pools),
    slotsUsed: Number(row.used),
    slotsFree: Number(row.free),
  }));
  const total = (key: 'pools' | 'slotsUsed' | 'slotsFree') => byStatus.reduce((sum, row) => sum + row[key], 0);
  return { pools: total('pools'), slotsUsed: total('slotsUsed'), slotsFree: total('slotsFree'), byStatus };
}
