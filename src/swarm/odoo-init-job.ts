import type { ServiceSpec } from './docker-types.js';
import { roleLabels } from './labels.js';
import { odooTask, type OdooRuntimeInput } from './odoo-service.js';
import { oneShotJob, seconds } from './spec-parts.js';

/** The init job's service name: the tenant's service name (at most 54 characters) and a suffix. */
export const initJobName = (serviceName: string): string => `${serviceName}-init`;

/** What an init job runs: Odoo installs `modules` without demo data into the configured database, then exits. */
export const initArgs = (modules: string[]): string[] => ['-i', modules.join(','), '--without-demo', 'all', '--stop-after-init'];

/** A tenant's own init job installs `base`. */
export const INIT_ARGS = initArgs(['base']);

/**
 * The one-shot Swarm job that initialises a tenant's database before its server starts: same image, config
 * secret, data dir and limits as the server, labelled `init` so nothing takes it for the tenant's service.
 * A failed run is retried `restartMaxAttempts` times. Pure.
 */
export function odooInitJobSpec(input: OdooRuntimeInput, args: string[] = INIT_ARGS): ServiceSpec {
  const { container, task } = odooTask(input, 'init', args);
  return oneShotJob(initJobName(input.serviceName), roleLabels(input.instance.id, 'init', input.extraLabels), {
    ...task,
    ContainerSpec: container,
    RestartPolicy: { Condition: 'on-failure', Delay: seconds(input.restartDelaySeconds), MaxAttempts: input.restartMaxAttempts },
  });
}
