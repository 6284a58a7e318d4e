import type { Transaction } from 'kysely';
import type { Database, DesiredState, InstanceRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { DomainError, notFound } from '../../errors.js';
import { scaleService } from '../../swarm/swarm.js';
import { applyRecorded, runServer } from './odoo-services.js';
import { moveInstance, patchInstance, type Trigger } from './instance-events.js';
import { canMove, instanceMoves, type InstanceMove } from './instance-status.js';
import { allows, type InstanceRule } from './instance-policy.js';
import { isUuid } from '../names.js';
import { withTransaction } from '../../db/transaction.js';
import { lockInstance } from './instance-lock.js';
import { conditionsWith } from './instance-conditions.js';

interface RunStateChange {
  verb: string;
  /** The move it makes at once (to a transitional status); the reconciler follows it from there to its end state. */
  move: InstanceMove;
  desired: DesiredState;
  /** The rule for statuses in which the change is already made or under way: asking again changes nothing. */
  already: InstanceRule;
  apply: (deps: Deps, instance: InstanceRow & { service_name: string }) => Promise<void>;
  /**
   * After the commit: what was asked is recorded first, and if Docker fails the reconciler finishes it, since it sees
   * from the tasks whether a service still runs that should not, or not one that should. Inside the transaction: a
   * change the tasks cannot show as missing (a fresh task), made before the record so that a failure leaves nothing.
   */
  applied: 'after-commit' | 'before-commit';
}

/** What a call recorded: the row, and whether Docker has a change to take once it is committed. */
interface Recorded {
  instance: InstanceRow;
  changed: boolean;
}

const unchanged = (instance: InstanceRow): Recorded => ({ instance, changed: false });
const changed = (instance: InstanceRow): Recorded => ({ instance, changed: true });

/** Runs `work` with the instance's row locked until the transaction ends. */
function withLockedInstance<T>(
  deps: Deps,
  instanceId: string,
  work: (trx: Transaction<Database>, instance: InstanceRow) => Promise<T>,
): Promise<T> {
  if (!isUuid(instanceId)) throw notFound('Instance', instanceId);
  return withTransaction(deps.db, async (trx) => {
    const instance = await lockInstance(trx, instanceId);
    return work(trx, instance);
  });
}

/** One shape for stop, start and restart: lock the row, record what was asked and the transitional status, change the service. */
async function changeRunState(deps: Deps, instanceId: string, trigger: Trigger, change: RunStateChange): Promise<InstanceRow> {
  const moved = await withLockedInstance(deps, instanceId, async (trx, instance) => {
    if (allows(change.already, instance.status)) return unchanged(instance);
    // Billing stopped it: only paying, or an admin's resumeInstance, starts it again.
    if (instance.status === 'SUSPENDED') {
      throw new DomainError(
        'CONFLICT',
        `Instance ${instanceId} is SUSPENDED by billing and cannot be ${change.verb}: paying (or an admin's resumeInstance) brings it back.`,
      );
    }
    if (!canMove(change.move, instance.status) || !instance.service_name) {
      throw new DomainError('CONFLICT', `Instance ${instanceId} is ${instance.status} and cannot be ${change.verb}.`);
    }
    if (change.applied === 'before-commit') await change.apply(deps, { ...instance, service_name: instance.service_name });
    const moved = await moveInstance(deps, trx, instance, change.move, trigger, { patch: { desired: change.desired } });
    const transitional = instanceMoves[change.move].to.toLowerCase();
    deps.log.info({ event: `instance.${transitional}`, instanceId, actor: trigger.actor }, `instance ${change.verb}`);
    return changed(moved!);
  });
  if (moved.changed && change.applied === 'after-commit') await applyRecorded(deps, moved.instance, change.apply);
  return moved.instance;
}

/** Scales the service to zero; STOPPING until no task runs, then STOPPED. */
export const stopInstance = (deps: Deps, instanceId: string, trigger: Trigger = { cause: 'stopInstance', actor: 'admin' }) =>
  changeRunState(deps, instanceId, trigger, {
    verb: 'stopped',
    move: 'stop',
    desired: 'stopped',
    already: 'stopped',
    apply: (d, instance) => scaleService(d.docker, instance.service_name, 0),
    applied: 'after-commit',
  });

/** Scales the service back to one, its task built from the recorded spec; STARTING until its task runs (healthy), then RUNNING. */
export const startInstance = (deps: Deps, instanceId: string, trigger: Trigger = { cause: 'startInstance', actor: 'admin' }) =>
  changeRunState(deps, instanceId, trigger, {
    verb: 'started',
    move: 'start',
    desired: 'running',
    already: 'started',
    apply: (d, instance) => runServer(d, instance, { replicas: 1 }),
    applied: 'after-commit',
  });

/**
 * Replaces the task with a fresh one (a forced update) built from the spec recorded on the instance, whichever replica
 * restarts it (one provisioned before specs were recorded keeps what it runs); RESTARTING until the new task runs, then
 * RUNNING. Also from DEGRADED and FAILED.
 */
export const restartInstance = (deps: Deps, instanceId: string, trigger: Trigger = { cause: 'restartInstance', actor: 'admin' }) =>
  changeRunState(deps, instanceId, trigger, {
    verb: 'restarted',
    move: 'restart',
    desired: 'running',
    already: 'restarting',
    // After Swarm gave up (FAILED) the replica count still reads 1: the forced update makes it schedule a task again.
    apply: (d, instance) => runServer(d, instance, { replicas: 1, force: true }),
    applied: 'before-commit',
  });

/**
 * Billing stops the tenant: the service is scaled to 0 (database, secret and filestore kept) and the instance reads
 * SUSPENDED. With `purgeAt` (a cancelled subscription) the reconciler terminates it then, unless it is reactivated.
 * An instance with no service yet only takes the purge time. Safe to repeat: an earlier purge time is kept.
 */
export async function suspendInstance(deps: Deps, instanceId: string, trigger: Trigger, purgeAt: Date | null = null): Promise<InstanceRow> {
  const recorded = await withLockedInstance(deps, instanceId, async (trx, instance): Promise<Recorded> => {
    if (allows('ended', instance.status)) return unchanged(instance);
    if (instance.status === 'PROVISIONING')
      throw new DomainError('CONFLICT', `Instance ${instanceId} is PROVISIONING: it is suspended once it runs.`);
    const purge_at = instance.purge_at ?? purgeAt;
    const message = purge_at
      ? `purged at ${purge_at.toISOString()} unless reactivated`
      : 'service scaled to 0; database, secret and filestore kept';
    // A restore stopped it and gives it back when done: the suspension waits for that, instead of being lost.
    if (instance.status === 'RESTORING' && instance.service_name) {
      if (instance.suspension_pending_at && purge_at?.getTime() === instance.purge_at?.getTime()) return unchanged(instance);
      const pending = await patchInstance(
        deps,
        trx,
        instanceId,
        { purge_at, suspension_pending_at: instance.suspension_pending_at ?? new Date() },
        { event: { trigger, message: `suspended once the restore under way ends; ${message}` } },
      );
      return unchanged(pending!);
    }
    if (instance.status === 'SUSPENDED' || !instance.service_name || !canMove('suspend', instance.status)) {
      if (purge_at?.getTime() === instance.purge_at?.getTime()) return unchanged(instance);
      return unchanged((await patchInstance(deps, trx, instanceId, { purge_at }, { event: { trigger, message } }))!);
    }
    const moved = await moveInstance(deps, trx, instance, 'suspend', trigger, {
      patch: { purge_at, desired: 'suspended', conditions: conditionsWith('service', null) },
      message,
    });
    deps.log.info({ event: 'instance.suspended', instanceId, actor: trigger.actor, purgeAt: purge_at }, 'instance suspended');
    return changed(moved!);
  });
  if (recorded.changed) await applyRecorded(deps, recorded.instance, (d, instance) => scaleService(d.docker, instance.service_name, 0));
  return recorded.instance;
}

/**
 * Brings a SUSPENDED instance back (STARTING, then RUNNING): for an admin's resumeInstance and an unblocked or paid
 * subscription. A cancelled one (with a purge time) comes back only through reactivation, which also clears it.
 * An instance already on its way back or running is returned as it is.
 */
export async function resumeInstance(
  deps: Deps,
  instanceId: string,
  trigger: Trigger,
  options: { reactivate?: boolean } = {},
): Promise<InstanceRow> {
  const recorded = await withLockedInstance(deps, instanceId, async (trx, instance): Promise<Recorded> => {
    if (instance.purge_at && !options.reactivate) {
      throw new DomainError(
        'CONFLICT',
        `Instance ${instanceId} belongs to a cancelled subscription (purged at ${instance.purge_at.toISOString()}): reactivate it instead.`,
      );
    }
    if (instance.status !== 'SUSPENDED') {
      if (allows('ended', instance.status))
        throw new DomainError('CONFLICT', `Instance ${instanceId} is ${instance.status} and cannot be resumed.`);
      if (!instance.purge_at && !instance.suspension_pending_at) return unchanged(instance);
      const message = instance.purge_at ? 'purge cancelled' : 'the suspension waiting for the restore is cancelled';
      const cleared = await patchInstance(
        deps,
        trx,
        instanceId,
        { purge_at: null, suspension_pending_at: null },
        { event: { trigger, message } },
      );
      return unchanged(cleared!);
    }
    const moved = await moveInstance(deps, trx, instance, 'resume', trigger, {
      patch: { purge_at: null, desired: 'running' },
      message: instance.purge_at ? 'reactivated; purge cancelled' : 'resumed',
    });
    deps.log.info({ event: 'instance.resumed', instanceId, actor: trigger.actor }, 'instance resumed');
    return changed(moved!);
  });
  if (recorded.changed) await applyRecorded(deps, recorded.instance, (d, instance) => runServer(d, instance, { replicas: 1 }));
  return recorded.instance;
}

/** Clears a cancelled instance's purge time and resumes it: admins' reactivateInstance and SUBSCRIPTION_UNCANCEL. */
export const reactivateInstance = (deps: Deps, instanceId: string, trigger: Trigger) =>
  resumeInstance(deps, instanceId, trigger, { reactivate: true });
