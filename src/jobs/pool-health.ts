import { sql } from 'kysely';
import type { PoolRow } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { probePool } from '../domain/pool-server.js';
import { poolAdminAccess } from '../domain/pools.js';
import type { Job } from './scheduler.js';

/**
 * Logs in to every pool in service as its admin, all at once with a short timeout: `healthy` when it answers,
 * `degraded` after a failure, `unhealthy` (and out of allocation) after POOL_UNHEALTHY_AFTER in a row. A pool that
 * answers again recovers by itself, from `error` too. Kept admin connections go with a failed probe, and with a
 * pool no longer in service or whose password or status changed: the next allocation logs in afresh.
 */
export async function checkPoolHealth(deps: Deps): Promise<void> {
  const pools = await deps.db
    .selectFrom('db_servers')
    .selectAll()
    .where('status', 'in', ['active', 'full', 'maintenance', 'error'])
    .where((eb) => eb.or([eb('server_type', '=', 'registered'), eb('service_id', 'is not', null)]))
    .execute();
  await deps.poolConnections.retain(pools);
  await Promise.all(pools.map((pool) => checkOne(deps, pool)));
}

async function checkOne(deps: Deps, pool: PoolRow): Promise<void> {
  const probe = await probePool(poolAdminAccess(pool, deps.config.masterKey), deps.config.pools.healthTimeoutMs);
  if (probe.ok) {
    await deps.db
      .updateTable('db_servers')
      .set({
        health_status: 'healthy',
        health_failures: 0,
        last_health_check_at: sql`now()`,
        last_health_error: null,
        status: sql`case when status <> 'error' then status when current_instances >= max_instances then 'full' else 'active' end`,
        updated_at: sql`now()`,
      })
      .where('id', '=', pool.id)
      .execute();
    if (pool.health_status !== 'healthy' || pool.status === 'error') {
      deps.log.info({ event: 'pool.recovered', poolId: pool.id, pool: pool.name }, 'pool answers again');
    }
    return;
  }
  await deps.poolConnections.drop(pool.id);
  const failures = pool.health_failures + 1;
  const health = failures >= deps.config.pools.unhealthyAfterFailures ? 'unhealthy' : 'degraded';
  await deps.db
    .updateTable('db_servers')
    .set({ health_status: health, health_failures: failures, last_health_check_at: sql`now()`, last_health_error: probe.reason, updated_at: sql`now()` })
    .where('id', '=', pool.id)
    .execute();
  if (health !== pool.health_status) {
    deps.log.warn({ event: `pool.${health}`, poolId: pool.id, pool: pool.name, failures, reason: probe.reason }, `pool is ${health}`);
  }
}

export const poolHealthJob = (schedule: string): Job => ({ name: 'pool-health', schedule, run: checkPoolHealth });
