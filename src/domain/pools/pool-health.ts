import type { PoolRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { probePool } from '../../db/pool-server.js';
import { recordHealthy, recordProbeFailure, watchedStatuses } from './pool-state.js';
import { poolAdminAccess } from './pools.js';

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
    .where('status', 'in', watchedStatuses)
    .where((eb) => eb.or([eb('server_type', '=', 'registered'), eb('service_id', 'is not', null)]))
    .execute();
  await deps.poolConnections.retain(pools);
  await Promise.all(pools.map((pool) => checkOne(deps, pool)));
}

async function checkOne(deps: Deps, pool: PoolRow): Promise<void> {
  const probe = await probePool(poolAdminAccess(pool, deps.config.masterKey), deps.config.pools.healthTimeoutMs);
  if (probe.ok) {
    await recordHealthy(deps.db, pool);
    if (pool.health_status !== 'healthy' || pool.status === 'error') {
      deps.log.info({ event: 'pool.recovered', poolId: pool.id, pool: pool.name }, 'pool answers again');
    }
    return;
  }
  await deps.poolConnections.drop(pool.id);
  const { health, failures } = await recordProbeFailure(deps.db, pool, probe.reason, deps.config.pools.unhealthyAfterFailures);
  if (health !== pool.health_status) {
    deps.log.warn({ event: `pool.${health}`, poolId: pool.id, pool: pool.name, failures, reason: probe.reason }, `pool is ${health}`);
  }
}
