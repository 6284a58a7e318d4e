import type { InstanceRow, InstanceStatus } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { DomainError, notFound } from '../errors.js';
import { forceRestartService, scaleService } from '../swarm/swarm.js';
import { moveInstance, type Trigger } from './instance-events.js';
import { canTransition } from './instance-status.js';
import { isUuid } from './names.js';
import { withTransaction } from '../db/transaction.js';

interface RunStateChange {
  verb: string;
  /** Where the instance goes at once; the scheduler follows it from there to its end state. */
  transitional: InstanceStatus;
  /** Statuses in which the change is already made or under way: asking again changes nothing. */
  already: InstanceStatus[];
  apply: (deps: Deps, serviceName: string) => Promise<void>;
}

/** One shape for stop, start and restart: lock the row, change the service, record the transitional status. */
async function changeRunState(deps: Deps, instanceId: string, trigger: Trigger, change: RunStateChange): Promise<InstanceRow> {
  if (!isUuid(instanceId)) throw notFound('Instance', instanceId);
  return withTransaction(deps.db, async (trx) => {
    const instance = await trx.selectFrom('instances').selectAll().where('id', '=', instanceId).forUpdate().executeTakeFirst();
    if (!instance) throw notFound('Instance', instanceId);
    if (change.already.includes(instance.status)) return instance;
    if (!canTransition(instance.status, change.transitional) || !instance.service_name) {
      throw new DomainError('CONFLICT', `Instance ${instanceId} is ${instance.status} and cannot be ${change.verb}.`);
    }
    await change.apply(deps, instance.service_name);
    const moved = await moveInstance(deps, trx, instance, change.transitional, trigger);
    deps.log.info({ event: `instance.${change.transitional.toLowerCase()}`, instanceId, actor: trigger.actor }, `instance ${change.verb}`);
    return moved!;
  });
}

/** Scales the service to zero; STOPPING until no task runs, then STOPPED. */
export const stopInstance = (deps: Deps, instanceId: string, trigger: Trigger = { cause: 'stopInstance', actor: 'admin' }) =>
  changeRunState(deps, instanceId, trigger, {
    verb: 'stopped',
    transitional: 'STOPPING',
    already: ['STOPPING', 'STOPPED'],
    apply: (d, service) => scaleService(d.docker, service, 0),
  });

/** Scales the service back to one; STARTING until its task runs (healthy), then RUNNING. */
export const startInstance = (deps: Deps, instanceId: string, trigger: Trigger = { cause: 'startInstance', actor: 'admin' }) =>
  changeRunState(deps, instanceId, trigger, {
    verb: 'started',
    transitional: 'STARTING',
    already: ['STARTING', 'RUNNING', 'RESTARTING', 'PROVISIONING'],
    apply: (d, service) => scaleService(d.docker, service, 1),
  });

/** Replaces the task with a fresh one (a forced update); RESTARTING until the new task runs, then RUNNING. */
export const restartInstance = (deps: Deps, instanceId: string, trigger: Trigger = { cause: 'restartInstance', actor: 'admin' }) =>
  changeRunState(deps, instanceId, trigger, {
    verb: 'restarted',
    transitional: 'RESTARTING',
    already: ['RESTARTING'],
    apply: (d, service) => forceRestartService(d.docker, service),
  });
