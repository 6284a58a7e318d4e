import type { InstanceRow } from '../../db/schema.js';
import { withReservationPolicy } from '../../swarm/reservations.js';
import type { Deps } from '../../deps.js';
import type { OdooSpec } from '../../swarm/odoo-config.js';
import { odooInitJobSpec } from '../../swarm/odoo-init-job.js';
import { odooServiceSpec, type OdooRuntimeInput, type ServiceSpec } from '../../swarm/odoo-service.js';
import { createService, updateTask } from '../../swarm/swarm.js';
import { odooServerTask } from '../../swarm/odoo-service.js';
import { reservedAs } from '../../swarm/reservations.js';
import { recordedSpec } from './odoo-spec.js';
import { odooServiceName } from '../names.js';

export interface SecretRef {
  id: string;
  name: string;
}

/** What the server and its init job share: the instance's recorded spec, and where the platform runs it. */
function runtimeInput(deps: Pick<Deps, 'config'>, instance: InstanceRow, spec: OdooSpec, configSecret: SecretRef): OdooRuntimeInput {
  const { config } = deps;
  return {
    instance: { id: instance.id, subdomain: instance.subdomain },
    spec,
    serviceName: instance.service_name ?? odooServiceName(instance),
    network: config.swarmNetwork,
    cephfsRoot: config.storage.tenantRoot,
    configSecret,
    restartMaxAttempts: config.odooRestartMaxAttempts,
    restartDelaySeconds: config.odooRestartDelaySeconds,
    odooUid: config.odooUid,
    extraLabels: config.dockerLabels,
  };
}

/**
 * Creates (or finds, after an earlier try) a one-shot job that runs the tenant's Odoo, `build` making its spec from the
 * server's runtime; returns its id.
 */
export const createOdooJob = (
  deps: Pick<Deps, 'config' | 'docker'>,
  instance: InstanceRow,
  spec: OdooSpec,
  configSecret: SecretRef,
  build: (input: OdooRuntimeInput) => ServiceSpec,
): Promise<string> =>
  createService(deps.docker, withReservationPolicy(build(runtimeInput(deps, instance, spec, configSecret)), deps.config.swarmReservations));

/** The one-shot job that initialises the tenant's database. */
export const createInitJob = (
  deps: Pick<Deps, 'config' | 'docker'>,
  instance: InstanceRow,
  spec: OdooSpec,
  configSecret: SecretRef,
): Promise<string> => createOdooJob(deps, instance, spec, configSecret, odooInitJobSpec);

/** Creates (or finds) the tenant's long-running Odoo service; returns its id. */
export const createServer = (
  deps: Pick<Deps, 'config' | 'docker'>,
  instance: InstanceRow,
  spec: OdooSpec,
  configSecret: SecretRef,
): Promise<string> =>
  createService(
    deps.docker,
    withReservationPolicy(
      odooServiceSpec({
        ...runtimeInput(deps, instance, spec, configSecret),
        baseDomain: deps.config.baseDomain,
        healthIntervalSeconds: deps.config.odooHealthIntervalSeconds,
        healthStartSeconds: deps.config.odooHealthStartSeconds,
        stopGraceSeconds: deps.config.odooStopGraceSeconds,
        tls: { mode: deps.config.tenants.tlsMode, certResolver: deps.config.tenants.tlsCertResolver },
      }),
      deps.config.swarmReservations,
    ),
  );

/**
 * Gives the tenant's service the task the spec recorded on the instance builds (image, environment, settings, limits),
 * whichever replica acts, and `replicas` task(s) when given: a start, a restart (`force`: a fresh task even if nothing
 * changed), the tenant given back after a restore, a plan's new limits. An instance provisioned before specs were
 * recorded keeps what it runs.
 */
export async function runServer(
  deps: Pick<Deps, 'config' | 'docker'>,
  instance: InstanceRow & { service_name: string },
  options: { replicas?: number; force?: boolean },
): Promise<void> {
  const spec = recordedSpec(instance);
  const task = spec ? odooServerTask(spec) : null;
  await updateTask(deps.docker, instance.service_name, {
    ...(task ? { ...task, resources: reservedAs(task.resources, deps.config.swarmReservations) } : {}),
    ...options,
  });
}

/**
 * Makes the change the row already records; a failure is left to the reconciler, which makes it at its next tick: the
 * call has done its part once what was asked is recorded.
 */
export async function applyRecorded<D extends Pick<Deps, 'log'>>(
  deps: D,
  instance: InstanceRow,
  apply: (deps: D, instance: InstanceRow & { service_name: string }) => Promise<void>,
): Promise<void> {
  await apply(deps, { ...instance, service_name: instance.service_name! }).catch((error: unknown) =>
    deps.log.warn(
      { event: 'instance.change_deferred', instanceId: instance.id, status: instance.status, err: error },
      'Docker did not take the change; the reconciler makes it',
    ),
  );
}
