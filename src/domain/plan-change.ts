import { setTimeout as sleep } from 'node:timers/promises';
import type { Transaction } from 'kysely';
import type { Database, InstanceRow, InstanceStatus, PlanRow } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { afterCommit, withTransaction } from '../db/transaction.js';
import { DomainError, notFound } from '../errors.js';
import { odooResources } from '../swarm/odoo-resources.js';
import { reservedAs } from '../swarm/reservations.js';
import { instanceLabels } from '../swarm/labels.js';
import { ODOO_CONFIG_FILE_NAME } from '../swarm/odoo-config.js';
import { secretFile } from '../swarm/spec-parts.js';
import { ensureSecret, removeSecret, updateServiceResources } from '../swarm/swarm.js';
import { reissueCredentials } from './credentials-reissue.js';
import { odooConfigFor } from './provisioning.js';
import { moveInstance, recordEvent, type Trigger } from './instance-events.js';
import { endedStatuses, servingStatuses } from './instance-status.js';
import { isUuid, odooSecretName } from './names.js';
import { lockInstance } from './instance-lock.js';
import { formatBytes } from './sizes.js';
import { applyQuota } from './tenant-storage.js';

const restartedByResize: InstanceStatus[] = [...servingStatuses, 'FAILED'];

/**
 * Moves an instance to `plan`: its limits become the plan's. A new storage limit becomes its data dir's quota at
 * once; new CPU or memory limits resize its service live (a Swarm update of Resources, which replaces the task). A
 * serving instance reads RESTARTING until the resized task runs, then RUNNING (a FAILED one too: the update schedules a
 * task again); a stopped or suspended one keeps its status and starts with the new limits. Safe to repeat.
 */
export async function changeInstancePlan(deps: Deps, instanceId: string, plan: PlanRow, trigger: Trigger): Promise<InstanceRow> {
  if (!isUuid(instanceId)) throw notFound('Instance', instanceId);
  return withTransaction(deps.db, async (trx) => {
    const instance = await lockInstance(trx, instanceId);
    if (endedStatuses.includes(instance.status)) return instance;
    const sameResources = instance.cpu_limit === plan.cpu_limit && instance.memory_limit_mb === plan.memory_limit_mb;
    const sameStorage = instance.storage_limit_bytes === plan.storage_limit_bytes;
    if (instance.plan === plan.name && sameResources && sameStorage) return instance;
    // Its first task is being rolled out: resizing now would race it; the event is tried again once it runs.
    if (instance.status === 'PROVISIONING')
      throw new DomainError('CONFLICT', `Instance ${instanceId} is PROVISIONING: its plan changes once it runs.`);

    const limits = {
      plan: plan.name,
      cpu_limit: plan.cpu_limit,
      memory_limit_mb: plan.memory_limit_mb,
      storage_limit_bytes: plan.storage_limit_bytes,
    };
    const storage = plan.storage_limit_bytes === null ? 'no storage limit' : `${formatBytes(Number(plan.storage_limit_bytes))} of storage`;
    const message = `plan ${instance.plan ?? 'none'} -> ${plan.name} (${plan.cpu_limit} CPU, ${plan.memory_limit_mb} MiB, ${storage})`;
    let patch: Partial<InstanceRow> = limits;
    // Provisioning gives a data dir its quota: one not provisioned yet has none to change.
    if (!sameStorage && instance.service_name) await applyQuota(deps, { ...instance, ...limits });
    if (instance.service_name && !sameResources) {
      // Odoo's workers and memory limits come from its config file: a new version of it goes with the new limits.
      const config = await writeConfigVersion(deps, trx, instance, limits, trigger);
      patch = { ...limits, config_version: config.version };
      await updateServiceResources(
        deps.docker,
        instance.service_name,
        reservedAs(odooResources(plan.cpu_limit, plan.memory_limit_mb), deps.config.swarmReservations),
        [secretFile(config.secret, ODOO_CONFIG_FILE_NAME, deps.config.odooUid)],
      );
      afterCommit(trx, () => void removeOldConfig(deps, instance));
    }
    deps.log.info({ event: 'instance.plan_changed', instanceId, from: instance.plan, to: plan.name }, 'instance plan changed');
    // Swarm replaces the task of a serving service, and schedules one again for a FAILED one: followed to RUNNING.
    if (instance.service_name && !sameResources && restartedByResize.includes(instance.status)) {
      return (await moveInstance(deps, trx, instance, 'RESTARTING', trigger, { patch, message }))!;
    }
    const updated = await trx.updateTable('instances').set(patch).where('id', '=', instanceId).returningAll().executeTakeFirstOrThrow();
    await recordEvent(deps, trx, instanceId, trigger, message);
    return updated;
  });
}

/**
 * The next version of the tenant's config secret, for `limits`. Docker secrets cannot be read back, so the tenant's
 * role gets a new password, which goes into the new version only (a version left by an earlier try that failed is
 * replaced: its password is no longer the role's).
 */
async function writeConfigVersion(
  deps: Deps,
  trx: Transaction<Database>,
  instance: InstanceRow,
  limits: Pick<InstanceRow, 'cpu_limit' | 'memory_limit_mb'>,
  trigger: Trigger,
): Promise<{ version: number; secret: { id: string; name: string } }> {
  const version = instance.config_version + 1;
  const name = odooSecretName({ id: instance.id, config_version: version });
  await removeSecret(deps.docker, name);
  const credentials = await reissueCredentials(deps, trx, instance, trigger, 'config rewritten for the new plan');
  const secret = await ensureSecret(
    deps.docker,
    name,
    odooConfigFor(credentials, limits),
    instanceLabels(instance.id, deps.config.dockerLabels),
  );
  return { version, secret };
}

/** The version the service no longer uses; Docker may hold on to it while the replaced task stops (then it stays, harmless). */
async function removeOldConfig(deps: Deps, instance: InstanceRow): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      await removeSecret(deps.docker, odooSecretName(instance));
      return;
    } catch {
      await sleep(500);
    }
  }
  deps.log.warn(
    { event: 'instance.config_secret_left', instanceId: instance.id },
    'replaced config secret still in use; removed at termination',
  );
}
