import type { InstanceRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { DomainError, notFound } from '../../errors.js';
import { instanceLabels } from '../../swarm/labels.js';
import { odooConfigFile } from '../../swarm/odoo-config.js';
import { generatePassword } from '../../crypto/passwords.js';
import { initJobName } from '../../swarm/odoo-init-job.js';
import { ensureSecret, findSecretByName, removeJob, removeService } from '../../swarm/swarm.js';
import { deleteCredentials, readCredentials } from '../allocation/credentials.js';
import { reissueCredentials } from '../allocation/credentials-reissue.js';
import { moveInstance, type Trigger } from './instance-events.js';
import type { Executor } from '../../db/transaction.js';
import { isAllocated } from './instance-status.js';
import { allows } from './instance-policy.js';
import { isUuid, odooSecretName, odooServiceName } from '../names.js';
import { withTransaction } from '../../db/transaction.js';
import { createInitJob, createOdooJob, createServer, type SecretRef } from './odoo-services.js';
import { odooNeutralizeJobSpec } from '../../swarm/odoo-neutralize-job.js';
import { needsNeutralizing } from './staging-check.js';
import { lockInstance } from './instance-lock.js';
import { provisionAfterLoad } from './provision-after-load.js';
import { prepareDataDir } from './tenant-storage.js';
import { pinnedSpec } from './odoo-spec.js';
import { conditionsWith } from './instance-conditions.js';

/**
 * Hands the database settings and password to a Docker secret (Odoo's config file), then starts the one-shot job
 * that initialises the database; the tracker follows it, replaces the default admin, starts the tenant's Odoo
 * service and follows that to RUNNING. An instance initialised before (a FAILED one provisioned again) gets its
 * service straight away; a staging copy (initialised by its source) is neutralised first, by a job in the init job's
 * place. The database exists already (allocation made it): provisioning never creates one.
 * Credentials gone from Redis with no secret made yet are re-issued. Safe to repeat and to run twice at once: the
 * instance row is locked throughout, and the secret and services are found by name before they are made. The image,
 * limits and settings are recorded on the row first (or taken from it): the init job and the server are built from it.
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
  const provisioned = await withTransaction(deps.db, async (trx) => {
    const instance = await lockInstance(trx, instanceId);
    if (allows('provisioned', instance.status)) return { instance, fresh: false };
    if (instance.status === 'TERMINATED')
      throw new DomainError('CONFLICT', `Instance ${instanceId} is terminated and cannot be provisioned.`);
    if (!isAllocated(instance) || !allows('provisionable', instance.status)) {
      throw new DomainError('DATABASE_NOT_ALLOCATED', 'Database not allocated. Cannot provision instance.');
    }

    const spec = await pinnedSpec(deps, trx, instance);
    const secret = await ensureConfigSecret(deps, trx, instance, trigger);
    const serviceName = odooServiceName(instance);
    const named = { ...instance, service_name: serviceName };
    if (instance.status === 'FAILED') {
      await removeService(deps.docker, serviceName);
      await removeJob(deps.docker, initJobName(serviceName));
    }
    await prepareDataDir(deps, instance);
    const started = !instance.initialized_at
      ? {
          service_id: null,
          init_job_id: await createInitJob(deps, named, spec, secret),
          message: `initialising the database (job ${initJobName(serviceName)})`,
        }
      : needsNeutralizing(instance)
        ? {
            service_id: null,
            init_job_id: await createOdooJob(deps, named, spec, secret, odooNeutralizeJobSpec),
            message: `neutralising the staging copy (odoo neutralize, job ${initJobName(serviceName)})`,
          }
        : { service_id: await createServer(deps, named, spec, secret), init_job_id: null, message: `service ${serviceName} created` };
    const updated = await moveInstance(deps, trx, instance, 'provision', trigger, {
      patch: {
        service_name: serviceName,
        service_id: started.service_id,
        init_job_id: started.init_job_id,
        conditions: conditionsWith('initialisation', null, ['service']),
      },
      message: started.message,
    });
    return { instance: updated!, fresh: true };
  });

  if (provisioned.fresh) {
    // Only now that Docker holds the password in a secret is the Redis copy dropped.
    await deleteCredentials(deps.redis, instanceId);
    const { service_name: service, service_id: serviceId, init_job_id: initJobId } = provisioned.instance;
    deps.log.info({ event: 'provisioning.started', instanceId, service, serviceId, initJobId }, 'odoo provisioning started');
  }
  return provisioned.instance;
}

/** The config secret an earlier try made, or a new one from the credentials allocation left in Redis (or re-issued). */
async function ensureConfigSecret(deps: Deps, trx: Executor, instance: InstanceRow, trigger: Trigger): Promise<SecretRef> {
  const name = odooSecretName(instance);
  const existing = await findSecretByName(deps.docker, name);
  if (existing) return { id: existing.ID, name };
  const credentials = (await readCredentials(deps.redis, instance.id)) ?? (await reissueCredentials(deps, trx, instance, trigger));
  const config = odooConfigFile({
    db: {
      host: credentials.db_host,
      port: credentials.db_port,
      name: credentials.db_name,
      user: credentials.db_user,
      password: credentials.db_password,
    },
    masterPassword: generatePassword(32),
  });
  return ensureSecret(deps.docker, name, config, instanceLabels(instance.id, deps.config.dockerLabels));
}
