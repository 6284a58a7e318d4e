import type { InstanceRow } from '../db/schema.js';
import { withReservationPolicy } from '../swarm/reservations.js';
import type { Deps } from '../deps.js';
import { odooInitJobSpec } from '../swarm/odoo-init-job.js';
import { odooServiceSpec, type OdooRuntimeInput } from '../swarm/odoo-service.js';
import { createService } from '../swarm/swarm.js';
import { odooServiceName } from './names.js';

export interface SecretRef {
  id: string;
  name: string;
}

/** What the server and its init job share, from the instance row and the daemon's config. */
function runtimeInput(deps: Pick<Deps, 'config'>, instance: InstanceRow, configSecret: SecretRef): OdooRuntimeInput {
  const { config } = deps;
  return {
    instance: { id: instance.id, subdomain: instance.subdomain, cpuLimit: instance.cpu_limit, memoryLimitMb: instance.memory_limit_mb },
    serviceName: instance.service_name ?? odooServiceName(instance),
    image: config.odooImage,
    network: config.swarmNetwork,
    cephfsRoot: config.storage.tenantRoot,
    configSecret,
    restartMaxAttempts: config.odooRestartMaxAttempts,
    restartDelaySeconds: config.odooRestartDelaySeconds,
    odooUid: config.odooUid,
    extraEnv: config.tenants.odooExtraEnv,
    extraLabels: config.dockerLabels,
  };
}

/** Creates (or finds, after an earlier try) the one-shot job that initialises the tenant's database; returns its id. */
export const createInitJob = (deps: Pick<Deps, 'config' | 'docker'>, instance: InstanceRow, configSecret: SecretRef): Promise<string> =>
  createService(
    deps.docker,
    withReservationPolicy(odooInitJobSpec(runtimeInput(deps, instance, configSecret)), deps.config.swarmReservations),
  );

/** Creates (or finds) the tenant's long-running Odoo service; returns its id. */
export const createServer = (deps: Pick<Deps, 'config' | 'docker'>, instance: InstanceRow, configSecret: SecretRef): Promise<string> =>
  createService(
    deps.docker,
    withReservationPolicy(
      odooServiceSpec({
        ...runtimeInput(deps, instance, configSecret),
        baseDomain: deps.config.baseDomain,
        healthIntervalSeconds: deps.config.odooHealthIntervalSeconds,
        tls: { mode: deps.config.tenants.tlsMode, certResolver: deps.config.tenants.tlsCertResolver },
      }),
      deps.config.swarmReservations,
    ),
  );
