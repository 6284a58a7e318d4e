import { sql } from 'kysely';
import type { InstanceRow } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { judgeRollout } from '../domain/rollout.js';
import type { SwarmTask } from '../swarm/docker-types.js';
import { managedLabels } from '../swarm/labels.js';
import { listTasks, taskLogTail } from '../swarm/swarm.js';
import type { Job } from './scheduler.js';

/**
 * Follows every instance in PROVISIONING to RUNNING or FAILED from its row and one task listing per tick, so a
 * restarted daemon resumes where the rows say. Each transition is a conditional update: written once, with its time.
 */
export async function trackProvisioning(deps: Deps): Promise<void> {
  const inFlight = await deps.db.selectFrom('instances').selectAll().where('status', '=', 'PROVISIONING').execute();
  if (inFlight.length === 0) return;

  const tasksByService = new Map<string, SwarmTask[]>();
  for (const task of await listTasks(deps.docker, managedLabels(deps.config.dockerLabels))) {
    tasksByService.set(task.ServiceID, [...(tasksByService.get(task.ServiceID) ?? []), task]);
  }

  const now = new Date();
  for (const instance of inFlight) {
    const verdict = judgeRollout(tasksByService.get(instance.service_id ?? '') ?? [], policyFor(deps, instance), now);
    if (verdict.kind === 'running') await markRunning(deps, instance, verdict.since);
    if (verdict.kind === 'failed') {
      const logTail = verdict.taskId ? await taskLogTail(deps.docker, verdict.taskId, 3).catch(() => '') : '';
      await markFailed(deps, instance, logTail ? `${verdict.reason}; log: ${logTail}` : verdict.reason);
    }
  }
}

const policyFor = (deps: Deps, instance: InstanceRow) => ({
  subject: 'Odoo',
  maxFailedTasks: deps.config.odooRestartMaxAttempts + 1,
  deadline: new Date(instance.status_changed_at.getTime() + deps.config.provisionDeadlineSeconds * 1000),
});

async function markRunning(deps: Deps, instance: InstanceRow, taskRunningSince: Date): Promise<void> {
  const updated = await deps.db
    .updateTable('instances')
    .set({ status: 'RUNNING', status_changed_at: sql`now()`, error: null, updated_at: sql`now()` })
    .where('id', '=', instance.id)
    .where('status', '=', 'PROVISIONING')
    .executeTakeFirst();
  if (updated.numUpdatedRows > 0n) {
    deps.log.info(
      { event: 'instance.running', instanceId: instance.id, service: instance.service_name, taskRunningSince: taskRunningSince.toISOString() },
      'odoo is running',
    );
  }
}

async function markFailed(deps: Deps, instance: InstanceRow, reason: string): Promise<void> {
  const updated = await deps.db
    .updateTable('instances')
    .set({ status: 'FAILED', status_changed_at: sql`now()`, error: reason, updated_at: sql`now()` })
    .where('id', '=', instance.id)
    .where('status', '=', 'PROVISIONING')
    .executeTakeFirst();
  if (updated.numUpdatedRows > 0n) {
    deps.log.warn({ event: 'instance.failed', instanceId: instance.id, service: instance.service_name, reason }, 'odoo failed to start');
  }
}

export const provisionTrackingJob = (schedule: string): Job => ({ name: 'provision-tracking', schedule, run: trackProvisioning });
