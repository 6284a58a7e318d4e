import type { InstanceRow, InstanceStatus } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { DomainError, notFound } from '../errors.js';
import { ensureDataDir } from '../swarm/data-dir.js';
import { instanceLabels } from '../swarm/labels.js';
import { instanceDataDir, odooServiceSpec } from '../swarm/odoo-service.js';
import { createService, ensureSecret, findSecretByName, removeService } from '../swarm/swarm.js';
import { deleteCredentials, readCredentials } from './credentials.js';
import { moveInstance, type Trigger } from './instance-events.js';
import { isAllocated } from './instance-status.js';
import { isUuid, odooSecretName, odooServiceName, tenantDatabaseName, tenantRoleName } from './names.js';
import { provisionAfterLoad } from './restores.js';

/** Already on its way or there: provisioning again changes nothing. */
const alreadyProvisioned: InstanceStatus[] = ['PROVISIONING', 'RUNNING', 'STOPPED'];
const provisionable: InstanceStatus[] = ['ALLOCATED', 'FAILED'];

/**
 * Hands the database password to a Docker secret and creates the instance's Odoo service, then lets the tracker
 * follow it to RUNNING. The database exists already (allocation made it): provisioning never creates one.
 * Safe to repeat and to run twice at once: the instance row is locked throughout, the secret and service are
 * found by name before they are made, and a FAILED instance is provisioned afresh with the secret it has.
 */
export async function provisionInstance(
  deps: Deps,
  instanceId: string,
  trigger: Trigger = { cause: 'provisionInstance', actor: 'admin' },
): Promise<InstanceRow> {
  if (!isUuid(instanceId)) throw notFound('Instance', instanceId);
  // An instance loading from a backup is provisioned once the load is done, never before.
  const loading = await provisionAfterLoad(deps, instanceId, trigger);
  if (loading) return loading;
  const provisioned = await deps.db.transaction().execute(async (trx) => {
    const instance = await trx.selectFrom('instances').selectAll().where('id', '=', instanceId).forUpdate().executeTakeFirst();
    if (!instance) throw notFound('Instance', instanceId);
    if (alreadyProvisioned.includes(instance.status)) return { instance, fresh: false };
    if (instance.status === 'TERMINATED') throw new DomainError('CONFLICT', `Instance ${instanceId} is terminated and cannot be provisioned.`);
    if (!isAllocated(instance) || !provisionable.includes(instance.status)) {
      throw new DomainError('DATABASE_NOT_ALLOCATED', 'Database not allocated. Cannot provision instance.');
    }

    const secret = await ensurePasswordSecret(deps, instance);
    const serviceName = odooServiceName(instance);
    if (instance.status === 'FAILED') await removeService(deps.docker, serviceName);
    await ensureDataDir(instanceDataDir(deps.config.cephfsRoot, instance.id), deps.config.odooUid, deps.config.odooUid);
    const serviceId = await createService(
      deps.docker,
      odooServiceSpec({
        instance: { id: instance.id, subdomain: instance.subdomain, cpuLimit: instance.cpu_limit, memoryLimitMb: instance.memory_limit_mb },
        serviceName,
        image: deps.config.odooImage,
        network: deps.config.swarmNetwork,
        baseDomain: deps.config.baseDomain,
        cephfsRoot: deps.config.cephfsRoot,
        db: { host: instance.db_host!, port: instance.db_port ?? 5432, name: tenantDatabaseName(instance.id), user: tenantRoleName(instance.id) },
        secret,
        restartMaxAttempts: deps.config.odooRestartMaxAttempts,
        odooUid: deps.config.odooUid,
        extraLabels: deps.config.dockerLabels,
      }),
    );
    const updated = await moveInstance(deps, trx, instance, 'PROVISIONING', trigger, {
      patch: { service_name: serviceName, service_id: serviceId, error: null },
      message: `service ${serviceName} created`,
    });
    return { instance: updated!, fresh: true };
  });

  if (provisioned.fresh) {
    // Only now that Docker holds the password in a secret is the Redis copy dropped.
    await deleteCredentials(deps.redis, instanceId);
    deps.log.info(
      { event: 'provisioning.started', instanceId, service: provisioned.instance.service_name, serviceId: provisioned.instance.service_id },
      'odoo service created',
    );
  }
  return provisioned.instance;
}

/** The secret an earlier try made, or a new one from the credentials allocation left in Redis. */
async function ensurePasswordSecret(deps: Deps, instance: InstanceRow): Promise<{ id: string; name: string }> {
  const name = odooSecretName(instance);
  const existing = await findSecretByName(deps.docker, name);
  if (existing) return { id: existing.ID, name };
  const credentials = await readCredentials(deps.redis, instance.id);
  if (!credentials) {
    throw new DomainError('CREDENTIALS_NOT_FOUND', 'Database credentials not found. Instance may be too old or not allocated.');
  }
  return ensureSecret(deps.docker, name, credentials.db_password, instanceLabels(instance.id, deps.config.dockerLabels));
}
