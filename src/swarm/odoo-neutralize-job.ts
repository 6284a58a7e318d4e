import type { ServiceSpec } from './docker-types.js';
import { ODOO_CONFIG_PATH } from './odoo-config.js';
import { initJobName } from './odoo-init-job.js';
import { roleLabels } from './labels.js';
import { odooTask, type OdooRuntimeInput } from './odoo-service.js';
import { oneShotJob } from './spec-parts.js';

/**
 * Odoo's own `odoo neutralize` (16+) on the database of the config file: mail servers off (a dummy one caught), crons
 * off, `database.is_neutralized`, and what each installed module's neutralize.sql adds. The subcommand comes first:
 * Odoo reads a leading option as the server's.
 */
export const NEUTRALIZE_ARGS = ['odoo', 'neutralize', '-c', ODOO_CONFIG_PATH];

/**
 * A staging copy's first run: the one-shot job that neutralises the database loaded from its source, where a new
 * instance's init job would initialise it (same name, `init` role and runtime): the tracking follows it the same way.
 * Never retried: a failed neutralisation leaves the copy unstarted. Pure.
 */
export function odooNeutralizeJobSpec(input: OdooRuntimeInput): ServiceSpec {
  const { container, task } = odooTask(input, 'init', []);
  return oneShotJob(initJobName(input.serviceName), roleLabels(input.instance.id, 'init', input.extraLabels), {
    ...task,
    ContainerSpec: { ...container, Args: NEUTRALIZE_ARGS },
    RestartPolicy: { Condition: 'none', Delay: 0, MaxAttempts: 0 },
  });
}
