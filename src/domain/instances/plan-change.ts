import type { InstanceRow, PlanRow } from '../../db/schema.js';
import { odooSpec } from '../../swarm/odoo-config.js';
import type { Deps } from '../../deps.js';
import { withTransaction } from '../../db/transaction.js';
import { DomainError, notFound } from '../../errors.js';
import { odooServerTask } from '../../swarm/odoo-service.js';
import { reservedAs } from '../../swarm/reservations.js';
import { updateTask } from '../../swarm/swarm.js';
import { moveInstance, patchInstance, type Trigger } from './instance-events.js';
import type { Executor } from '../../db/transaction.js';
import { allows } from './instance-policy.js';
import { isUuid } from '../names.js';
import { lockInstance } from './instance-lock.js';
import { recordSpec, recordedSpec, specFromConfig } from './odoo-spec.js';
import { formatBytes } from '../sizes.js';
import { applyQuota } from './tenant-storage.js';

/**
 * Moves an instance to `plan`: its limits become the plan's. A new storage limit becomes its data dir's quota at
 * once. New CPU or memory limits go into the spec recorded on it (with the workers and memory limits they give), and
 * its service is resized live (a Swarm update of its resources and launch, which replaces the task): a serving
 * instance reads RESTARTING until the resized task runs, then RUNNING (a FAILED one too: the update schedules a task
 * again); a stopped or suspended one keeps its status and starts with the new limits. Safe to repeat.
 */
export async function changeInstancePlan(deps: Deps, instanceId: string, plan: PlanRow, trigger: Trigger): Promise<InstanceRow> {
  if (!isUuid(instanceId)) throw notFound('Instance', instanceId);
  return withTransaction(deps.db, async (trx) => {
    const instance = await lockInstance(trx, instanceId);
    if (allows('ended', instance.status)) return instance;
    const sameResources = instance.cpu_limit === plan.cpu_limit && instance.memory_limit_mb === plan.memory_limit_mb;
    const sameStorage = instance.storage_limit_bytes === plan.storage_limit_bytes;
    if (instance.plan === plan.name && sameResources && sameStorage) return instance;
    // Its first task is being rolled out: resizing now would race it; the event is tried again once it runs.
    if (instance.status === 'PROVISIONING')
      throw new DomainError('CONFLICT', `Instance ${instanceId} is PROVISIONING: its plan changes once it runs.`);

    const patch = {
      plan: plan.name,
      cpu_limit: plan.cpu_limit,
      memory_limit_mb: plan.memory_limit_mb,
      storage_limit_bytes: plan.storage_limit_bytes,
    };
    const storage = plan.storage_limit_bytes === null ? 'no storage limit' : `${formatBytes(Number(plan.storage_limit_bytes))} of storage`;
    const message = `plan ${instance.plan ?? 'none'} -> ${plan.name} (${plan.cpu_limit} CPU, ${plan.memory_limit_mb} MiB, ${storage})`;
    // Provisioning gives a data dir its quota: one not provisioned yet has none to change.
    if (!sameStorage && instance.service_name) await applyQuota(deps, { ...instance, ...patch });
    const resized = !sameResources && (await resize(deps, trx, instance, plan));
    deps.log.info({ event: 'instance.plan_changed', instanceId, from: instance.plan, to: plan.name }, 'instance plan changed');
    // Swarm replaces the task of a serving service, and schedules one again for a FAILED one: followed to RUNNING.
    if (resized && allows('restartedByResize', instance.status)) {
      return (await moveInstance(deps, trx, instance, 'resize', trigger, { patch, message }))!;
    }
    return (await patchInstance(deps, trx, instanceId, patch, { event: { trigger, message } }))!;
  });
}

/**
 * Records the spec the plan's limits give (a provisioned instance keeps its image and environment) and resizes the
 * service, if it has one. Whether its task is replaced.
 */
async function resize(deps: Deps, trx: Executor, instance: InstanceRow, plan: PlanRow): Promise<boolean> {
  const limits = { cpuLimit: plan.cpu_limit, memoryLimitMb: plan.memory_limit_mb };
  const recorded = recordedSpec(instance);
  const spec = recorded
    ? odooSpec({ ...recorded, ...limits })
    : instance.service_name
      ? specFromConfig(deps.config, instance, limits)
      : null;
  if (spec) await recordSpec(deps, trx, instance.id, spec);
  if (!instance.service_name || !spec) return false;
  // The launch as a whole: a service made before the server's start script was in its environment gets both at once.
  const { resources, env, command, args } = odooServerTask(spec);
  await updateTask(deps.docker, instance.service_name, {
    resources: reservedAs(resources, deps.config.swarmReservations),
    env,
    command,
    args,
  });
  return true;
}
