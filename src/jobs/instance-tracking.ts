import { sql } from 'kysely';
import type { Deps } from '../deps.js';
import { moveInstance, scheduler } from '../domain/instances/instance-events.js';
import { statusesWhere } from '../domain/instances/instance-policy.js';
import { outcomeFor } from '../domain/instances/instance-outcome.js';
import { advanceInitialisation } from '../domain/instances/tenant-init.js';
import { terminateInstance } from '../domain/instances/termination.js';
import { managedLabels } from '../swarm/labels.js';
import { listTasksByService } from '../swarm/swarm.js';
import { taskEvidence } from '../domain/instances/task-evidence.js';
import type { Job } from './scheduler.js';

/** A TERMINATING row this old was left by a daemon that stopped half-way through termination. */
const STALE_TERMINATING_SECONDS = 30;

/**
 * Follows every instance in flight (provisioning, starting, restarting, stopping) to its end state; a PROVISIONING
 * one goes through its init job first, so RUNNING means initialised and the service's task healthy; from its row and
 * one task listing per tick, so a restarted daemon resumes where the rows say; finishes terminations left half-done.
 * The same listing tells whether the long-running service (its id on the row; one-shot jobs are other services) of a
 * RUNNING or DEGRADED instance still runs.
 * Each transition is written once (moveInstance only applies to the status read).
 */
export async function trackInstances(deps: Deps): Promise<void> {
  // None waits for another, so the tick costs little more than its one task listing. The listing does not wait for
  // the rows to say it is needed: RUNNING instances are always among them on a platform in use.
  const [inFlight, tasksByService] = await Promise.all([
    deps.db
      .selectFrom('instances')
      .selectAll()
      .where('status', 'in', [...statusesWhere('inFlight'), ...statusesWhere('serving')])
      .execute(),
    listTasksByService(deps.docker, managedLabels(deps.config.dockerLabels)),
    resumeTerminations(deps),
  ]);

  const now = new Date();
  for (const instance of inFlight) {
    // No Odoo service yet: its database is being initialised by the init job, never judged as the service.
    if (instance.status === 'PROVISIONING' && !instance.service_id) {
      await advanceInitialisation(deps, instance, tasksByService.get(instance.init_job_id ?? '') ?? [], now).catch((error: unknown) =>
        deps.log.warn(
          { event: 'instance.init_step_failed', instanceId: instance.id, err: error },
          'initialisation step failed; retried next tick',
        ),
      );
      continue;
    }
    const stale = deps.storage.staleTenants.get(instance.id) ?? null;
    const tasks = tasksByService.get(instance.service_id ?? '') ?? [];
    const outcome = outcomeFor(deps, instance, tasks, now, stale);
    if (!outcome) continue;
    const evidence = outcome.error && outcome.taskId ? await taskEvidence(deps, tasks, outcome.taskId) : '';
    const error = evidence ? `${outcome.error}; ${evidence}` : outcome.error;
    const moved = await moveInstance(deps, deps.db, instance, outcome.to, scheduler('tracking'), { patch: { error }, message: error });
    if (moved && instance.status === 'PROVISIONING') {
      const seconds = (Date.now() - instance.status_changed_at.getTime()) / 1000;
      deps.metrics.provisioningSeconds.observe({ outcome: outcome.to === 'RUNNING' ? 'running' : 'failed' }, seconds);
    }
    if (moved) {
      const level = outcome.to === 'FAILED' || outcome.to === 'DEGRADED' ? 'warn' : 'info';
      deps.log[level](
        {
          event: `instance.${outcome.to.toLowerCase()}`,
          instanceId: instance.id,
          service: instance.service_name,
          from: instance.status,
          error,
        },
        `instance ${outcome.to}`,
      );
    }
  }
}

async function resumeTerminations(deps: Deps): Promise<void> {
  const stale = await deps.db
    .selectFrom('instances')
    .select('id')
    .where('status', '=', 'TERMINATING')
    .where('status_changed_at', '<', sql<Date>`now() - make_interval(secs => ${STALE_TERMINATING_SECONDS})`)
    .execute();
  for (const { id } of stale) {
    await terminateInstance(deps, id, scheduler('terminate-resume'), { finalBackupWaitMs: 0 }).catch((error: unknown) =>
      deps.log.warn({ event: 'instance.terminate_retry_failed', instanceId: id, err: error }, 'termination still fails'),
    );
  }
}

export const INSTANCE_TRACKING = 'instance-tracking';
export const instanceTrackingJob = (schedule: string): Job => ({ name: INSTANCE_TRACKING, schedule, run: trackInstances });
