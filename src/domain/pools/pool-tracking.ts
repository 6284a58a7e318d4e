import type { Deps } from '../../deps.js';
import { managedLabels } from '../../swarm/labels.js';
import { listTasksByService } from '../../swarm/swarm.js';
import { failPoolProvisioning, startPoolService } from './pool-provisioning.js';
import { probePool } from '../../db/pool-server.js';
import { activatePool, recordProvisioningProgress } from './pool-state.js';
import { poolAdminAccess } from './pools.js';
import { judgeRollout } from '../rollout.js';

/** Crash loops a pool may go through before its provisioning is given up. */
const MAX_FAILED_TASKS = 5;
/** A `provisioning` row without a service this old was left by a daemon that stopped before creating it. */
const STALE_RESERVATION_MS = 30_000;

/**
 * Follows pools being provisioned: `active` once the daemon logs in as admin (not when a task merely runs),
 * `error` when the tasks keep failing or the deadline passes. The reconciler's next tick gives waiting instances to a
 * pool that became active.
 */
export async function trackPoolProvisioning(deps: Deps): Promise<void> {
  const pools = await deps.db.selectFrom('db_servers').selectAll().where('status', '=', 'provisioning').execute();
  if (pools.length === 0) return;

  const tasksByService = await listTasksByService(deps.docker, managedLabels(deps.config.dockerLabels));

  const now = new Date();
  for (const pool of pools) {
    if (!pool.service_id) {
      if (now.getTime() - pool.status_changed_at.getTime() > STALE_RESERVATION_MS) await startPoolService(deps, pool);
      continue;
    }
    const deadline = new Date(pool.status_changed_at.getTime() + deps.config.pools.provisionDeadlineSeconds * 1000);
    const verdict = judgeRollout(
      tasksByService.get(pool.service_id) ?? [],
      { subject: 'PostgreSQL', maxFailedTasks: MAX_FAILED_TASKS, deadline },
      now,
    );
    if (verdict.kind === 'failed') {
      const lastLogin = pool.status_reason ? `; ${pool.status_reason}` : '';
      await failPoolProvisioning(deps, pool, `${verdict.reason}${lastLogin}`);
      continue;
    }
    const probe = await probePool(poolAdminAccess(pool, deps.config.masterKey), deps.config.pools.healthTimeoutMs);
    if (!probe.ok) {
      // Progress an operator can see while the server starts: why the daemon cannot log in yet.
      await recordProvisioningProgress(deps.db, pool, `last login attempt: ${probe.reason}`);
    } else if (await activatePool(deps.db, pool)) {
      deps.log.info({ event: 'pool.active', poolId: pool.id, pool: pool.name }, 'pool is active');
    }
  }
}
