import type { Deps } from '../deps.js';
import { instancesToReconcile, reconcileInstance } from '../domain/instances/reconcile.js';
import { managedLabels } from '../swarm/labels.js';
import { listTasksByService } from '../swarm/swarm.js';
import type { Job } from './scheduler.js';

/**
 * The reconciler's tick: every instance it follows (waiting for a database, in flight, serving, terminating, past a
 * deadline), from its row and one task listing, one step each. None waits for another, so a tick costs little more
 * than its listing; an instance whose step fails is tried again at the next tick.
 */
export async function trackInstances(deps: Deps): Promise<void> {
  // The listing does not wait for the rows to say it is needed: RUNNING instances are always among them on a platform in use.
  const [instances, tasksByService] = await Promise.all([
    instancesToReconcile(deps),
    listTasksByService(deps.docker, managedLabels(deps.config.dockerLabels)),
  ]);
  const observed = { tasksByService, now: new Date(), allocations: { open: true } };
  for (const instance of instances) {
    await reconcileInstance(deps, instance, observed).catch((error: unknown) =>
      deps.log.warn(
        { event: 'instance.reconcile_failed', instanceId: instance.id, status: instance.status, err: error },
        'reconcile step failed; tried again at the next tick',
      ),
    );
  }
}

export const INSTANCE_TRACKING = 'instance-tracking';
export const instanceTrackingJob = (schedule: string): Job => ({ name: INSTANCE_TRACKING, schedule, run: trackInstances });
