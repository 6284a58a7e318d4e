import { sql } from 'kysely';
import type { PoolRow } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { failPoolProvisioning, startPoolService } from '../domain/pool-provisioning.js';
import { probePool } from '../domain/pool-server.js';
import { poolAdminAccess } from '../domain/pools.js';
import { judgeRollout } from '../domain/rollout.js';
import { managedLabels } from '../swarm/labels.js';
import { listTasksByService } from '../swarm/swarm.js';
import { retryWaitingAllocations } from './allocation-retry.js';
import type { Job } from './scheduler.js';

/** Crash loops a pool may go through before its provisioning is given up. */
const MAX_FAILED_TASKS = 5;
/** A `provisioning` row without a service this old was left by a daemon that stopped before creating it. */
const STALE_RESERVATION_MS = 30_000;

/**
 * Follows pools being provisioned: `active` once the daemon logs in as admin (not when a task merely runs),
 * `error` when the tasks keep failing or the deadline passes. A pool that becomes active takes waiting instances.
 */
export async function trackPoolProvisioning(deps: Deps): Promise<void> {
  const pools = await deps.db.selectFrom('db_servers').selectAll().where('status', '=', 'provisioning').execute();
  if (pools.length === 0) return;

  const tasksByService = await listTasksByService(deps.docker, managedLabels(deps.config.dockerLabels));

  const now = new Date();
  let activated = false;
  for (const pool of pools) {
    if (!pool.service_id) {
      if (now.getTime() - pool.status_changed_at.getTime() > STALE_RESERVATION_MS) await startPoolService(deps, pool);
      continue;
    }
    const deadline = new Date(pool.status_changed_at.getTime() + deps.config.pools.provisionDeadlineSeconds * 1000);
    const verdict = judgeRollout(tasksByService.get(pool.service_id) ?? [], { subject: 'PostgreSQL', maxFailedTasks: MAX_FAILED_TASKS, deadline }, now);
    if (verdict.kind === 'failed') {
      const lastLogin = pool.status_reason ? `; ${pool.status_reason}` : '';
      await failPoolProvisioning(deps, pool, `${verdict.reason}${lastLogin}`);
      continue;
    }
    const probe = await probePool(poolAdminAccess(pool, deps.config.masterKey), deps.config.pools.healthTimeoutMs);
    if (probe.ok) activated = (await activate(deps, pool)) || activated;
    else await recordWaitingForLogin(deps, pool, probe.reason);
  }
  if (activated) await retryWaitingAllocations(deps);
}

/** Progress an operator can see while the server starts: why the daemon cannot log in yet. */
async function recordWaitingForLogin(deps: Deps, pool: PoolRow, reason: string): Promise<void> {
  await deps.db
    .updateTable('db_servers')
    .set({ status_reason: `last login attempt: ${reason}`, updated_at: sql`now()` })
    .where('id', '=', pool.id)
    .where('status', '=', 'provisioning')
    .execute();
}

async function activate(deps: Deps, pool: PoolRow): Promise<boolean> {
  const updated = await deps.db
    .updateTable('db_servers')
    .set({
      status: sql`case when current_instances >= max_instances then 'full' else 'active' end`,
      health_status: 'healthy',
      health_failures: 0,
      last_health_check_at: sql`now()`,
      last_health_error: null,
      status_reason: null,
      status_changed_at: sql`now()`,
      updated_at: sql`now()`,
    })
    .where('id', '=', pool.id)
    .where('status', '=', 'provisioning')
    .executeTakeFirst();
  if (updated.numUpdatedRows === 0n) return false;
  deps.log.info({ event: 'pool.active', poolId: pool.id, pool: pool.name }, 'pool is active');
  return true;
}

export const poolProvisioningJob = (schedule: string): Job => ({ name: 'pool-provisioning', schedule, run: trackPoolProvisioning });
