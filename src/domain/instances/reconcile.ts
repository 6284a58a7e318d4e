import { sql } from 'kysely';
import type { InstanceRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import type { SwarmTask } from '../../swarm/docker-types.js';
import { moveInstance, scheduler } from './instance-events.js';
import { followMoves, outcomeFor } from './instance-outcome.js';
import { taskEvidence } from './task-evidence.js';
import { advanceInitialisation } from './tenant-init.js';
import { advanceTermination, terminationTrigger } from './termination.js';
import { allows, statusesWhere } from './instance-policy.js';
import { deadlineColumns, passedDeadline, terminateAtDeadline } from './deadlines.js';
import { runServer } from './odoo-services.js';
import { scaleService } from '../../swarm/swarm.js';
import { resourceAmounts } from '../../swarm/spec-parts.js';
import type { OdooSpec } from '../../swarm/odoo-config.js';
import { tasksSince } from '../rollout.js';
import { recordedSpec } from './odoo-spec.js';
import { conditionsWith } from './instance-conditions.js';
import { allocateDue, allocationDue } from '../allocation/waiting-allocations.js';

/** What the reconciler sees of an instance besides its row: the tasks of its service (or of its init job), the time. */
export interface Observed {
  /** Tasks by service id, from one listing of the daemon's services. */
  tasksByService: ReadonlyMap<string, SwarmTask[]>;
  now: Date;
  /**
   * Closed by an allocation step that found no pool with room, or failed (Redis or the control database away): the
   * allocations after it in this tick wait for the next, rather than each failing the same way.
   */
  allocations: { open: boolean };
}

/** Pure: an instance that has no Odoo service yet is followed through its init job, never judged as the service. */
const isInitialising = (instance: InstanceRow): boolean => instance.status === 'PROVISIONING' && !instance.service_id;

/** Pure: Swarm keeps the task running, or is about to start it: the service still asks for it. */
const askedToRun = (task: SwarmTask): boolean => task.DesiredState === 'running' || task.DesiredState === 'ready';

/** What Docker has yet to be told for an instance to become what was asked. */
export type PendingChange = 'scale-to-zero' | 'run' | 'resize';

/** Pure: the task runs with other CPU or memory limits than the spec gives. */
const hasOtherLimits = (task: SwarmTask, spec: OdooSpec): boolean => {
  const wanted = resourceAmounts(spec.cpuLimit, spec.memoryLimitMb);
  const limits = task.Spec?.Resources?.Limits;
  return limits?.NanoCPUs !== wanted.NanoCPUs || limits?.MemoryBytes !== wanted.MemoryBytes;
};

/**
 * Pure: what of the recorded intent Docker has not taken, as its service's tasks show (a call that recorded it and
 * failed, or a daemon stopped in between): a stopped or suspended instance whose service still asks for a task; a
 * starting one whose service asks for none; one RESTARTING for a plan's new limits with no task since, whose newest
 * task has the old ones. Null when Docker has it all.
 */
export function pendingChange(
  instance: Pick<InstanceRow, 'desired' | 'status' | 'service_name' | 'status_changed_at' | 'odoo_spec'>,
  tasks: SwarmTask[],
): PendingChange | null {
  if (!instance.service_name) return null;
  const asked = tasks.some(askedToRun);
  if ((instance.desired === 'stopped' || instance.desired === 'suspended') && allows('stopped', instance.status) && asked)
    return 'scale-to-zero';
  if (instance.desired === 'running' && instance.status === 'STARTING' && !asked) return 'run';
  const spec = recordedSpec(instance);
  if (instance.status === 'RESTARTING' && spec && tasksSince(tasks, instance.status_changed_at).length === 0) {
    const newest = tasks.reduce<SwarmTask | undefined>(
      (latest, task) => (!latest || Date.parse(task.CreatedAt) > Date.parse(latest.CreatedAt) ? task : latest),
      undefined,
    );
    if (newest && hasOtherLimits(newest, spec)) return 'resize';
  }
  return null;
}

/**
 * The rows the reconciler takes a step for, oldest first (so the longest waiting gets a pool's room first): those it
 * follows (waiting for a database, in flight, serving, stopped, terminating) and any not ended whose deadline passed.
 */
export const instancesToReconcile = (deps: Pick<Deps, 'db'>): Promise<InstanceRow[]> =>
  deps.db
    .selectFrom('instances')
    .selectAll()
    .where((eb) =>
      eb.or([
        eb('status', 'in', statusesWhere('reconciled')),
        eb.and([
          eb('status', 'not in', statusesWhere('ended')),
          eb.or(deadlineColumns.map((column) => eb(column, '<=', sql<Date>`now()`))),
        ]),
      ]),
    )
    .orderBy('created_at')
    .execute();

/**
 * Drives one instance a step from what is seen toward what was asked, never waiting: a termination takes its next
 * step; an instance whose deadline passed is terminated; one whose allocation is due is given a database (while pools
 * have room); an initialisation takes its next step; an instance in flight or serving moves to where its tasks say it
 * has arrived; what of the intent Docker has not taken is made again. Everything it needs is on the row and in the
 * listing, so a daemon stopped anywhere resumes at its next tick.
 */
export async function reconcileInstance(deps: Deps, instance: InstanceRow, observed: Observed): Promise<void> {
  if (instance.status === 'TERMINATING') {
    await advanceTermination(deps, instance, await terminationTrigger(deps, instance.id));
    return;
  }
  const deadline = passedDeadline(instance, observed.now);
  if (deadline) {
    await terminateAtDeadline(deps, instance, deadline);
    return;
  }
  if (allocationDue(instance, observed.now)) {
    if (!observed.allocations.open) return;
    // Closed first, so a step that throws leaves it closed.
    observed.allocations.open = false;
    observed.allocations.open = await allocateDue(deps, instance);
    return;
  }
  if (isInitialising(instance)) {
    await advanceInitialisation(deps, instance, observed.tasksByService.get(instance.init_job_id ?? '') ?? [], observed.now);
    return;
  }
  const tasks = observed.tasksByService.get(instance.service_id ?? '') ?? [];
  if (
    (allows('inFlight', instance.status) || allows('serving', instance.status)) &&
    (await followTasks(deps, instance, tasks, observed.now))
  )
    return;
  const pending = pendingChange(instance, tasks);
  if (pending) await makePendingChange(deps, { ...instance, service_name: instance.service_name! }, pending);
}

async function makePendingChange(deps: Deps, instance: InstanceRow & { service_name: string }, change: PendingChange): Promise<void> {
  deps.log.info(
    { event: 'instance.change_resumed', instanceId: instance.id, status: instance.status, desired: instance.desired, change },
    'making the change Docker has not taken',
  );
  if (change === 'scale-to-zero') await scaleService(deps.docker, instance.service_name, 0);
  else if (change === 'run') await runServer(deps, instance, { replicas: 1 });
  else await runServer(deps, instance, {});
}

/** Moves an instance in flight or serving to where its service's tasks say it has arrived (written once); true if it moved. */
async function followTasks(deps: Deps, instance: InstanceRow, tasks: SwarmTask[], now: Date): Promise<boolean> {
  const stale = deps.storage.staleTenants.get(instance.id) ?? null;
  const outcome = outcomeFor(deps, instance, tasks, now, stale);
  if (!outcome) return false;
  const evidence = outcome.error && outcome.taskId ? await taskEvidence(deps, tasks, outcome.taskId) : '';
  const error = evidence ? `${outcome.error}; ${evidence}` : outcome.error;
  const moved = await moveInstance(deps, deps.db, instance, followMoves[outcome.to], scheduler('tracking'), {
    patch: { conditions: conditionsWith('service', error) },
    message: error,
  });
  if (!moved) return false;
  if (instance.status === 'PROVISIONING') {
    const seconds = (Date.now() - instance.status_changed_at.getTime()) / 1000;
    deps.metrics.provisioningSeconds.observe({ outcome: outcome.to === 'RUNNING' ? 'running' : 'failed' }, seconds);
  }
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
  return true;
}
