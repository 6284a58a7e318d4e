import type { InstanceRow, PlanRow } from '../../db/schema.js';
import { odooSpec } from '../../swarm/odoo-config.js';
import type { Deps } from '../../deps.js';
import { withTransaction } from '../../db/transaction.js';
import { DomainError, notFound } from '../../errors.js';
import { moveInstance, patchInstance, type Trigger } from './instance-events.js';
import type { Executor } from '../../db/transaction.js';
import { allows } from './instance-policy.js';
import { isUuid } from '../names.js';
import { lockInstance } from './instance-lock.js';
import { recordSpec, recordedSpec, specFromConfig } from './odoo-spec.js';
import { formatBytes } from '../sizes.js';
import { applyQuota } from './tenant-storage.js';
import { applyRecorded, runServer } from './odoo-services.js';

/**
 * Moves an instance to `plan`: its limits become the plan's. The row is written first: the plan, its limits, and the
 * spec they give (workers and memory limits included), in one transaction; a serving instance reads RESTARTING (a
 * FAILED one too: the update schedules a task again), a stopped or suspended one keeps its status and starts with
 * the new limits. Only then are the data dir's quota and the service's resources changed (a Swarm update of its
 * resources and launch, which replaces a serving task). Should either fail, the call still answers: the storage job
 * puts the quota to the row's limit, and the reconciler resizes a RESTARTING service whose tasks still have the old
 * limits. Safe to repeat.
 */
export async function changeInstancePlan(deps: Deps, instanceId: string, plan: PlanRow, trigger: Trigger): Promise<InstanceRow> {
  if (!isUuid(instanceId)) throw notFound('Instance', instanceId);
  const change = await withTransaction(deps.db, async (trx) => {
    const instance = await lockInstance(trx, instanceId);
    if (allows('ended', instance.status)) return { instance, quota: false, resized: false };
    const sameResources = instance.cpu_limit === plan.cpu_limit && instance.memory_limit_mb === plan.memory_limit_mb;
    const sameStorage = instance.storage_limit_bytes === plan.storage_limit_bytes;
    if (instance.plan === plan.name && sameResources && sameStorage) return { instance, quota: false, resized: false };
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
    const resized = !sameResources && (await recordLimits(deps, trx, instance, plan));
    deps.log.info({ event: 'instance.plan_changed', instanceId, from: instance.plan, to: plan.name }, 'instance plan changed');
    // Swarm replaces the task of a serving service, and schedules one again for a FAILED one: followed to RUNNING.
    const written =
      resized && allows('restartedByResize', instance.status)
        ? await moveInstance(deps, trx, instance, 'resize', trigger, { patch, message })
        : await patchInstance(deps, trx, instanceId, patch, { event: { trigger, message } });
    // Provisioning gives a data dir its quota: one not provisioned yet has none to change.
    return { instance: written!, quota: !sameStorage && !!instance.service_name, resized };
  });
  if (change.quota)
    await applyQuota(deps, change.instance).catch((error: Error) =>
      deps.log.warn(
        { event: 'storage.quota_deferred', instanceId, reason: error.message },
        'quota not changed; the storage job sets it to the limit',
      ),
    );
  if (change.resized) await applyRecorded(deps, change.instance, (d, instance) => runServer(d, instance, {}));
  return change.instance;
}

/**
 * Records the spec the plan's limits give (a provisioned instance keeps its image and environment). Whether the
 * service has a task to resize.
 */
async function recordLimits(deps: Deps, trx: Executor, instance: InstanceRow, plan: PlanRow): Promise<boolean> {
  const limits = { cpuLimit: plan.cpu_limit, memoryLimitMb: plan.memory_limit_mb };
  const recorded = recordedSpec(instance);
  const spec = recorded
    ? odooSpec({ ...recorded, ...limits })
    : instance.service_name
      ? specFromConfig(deps.config, instance, limits)
      : null;
  if (spec) await recordSpec(deps, trx, instance.id, spec);
  return !!instance.service_name && !!spec;
}
