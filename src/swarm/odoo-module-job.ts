import type { ServiceSpec } from './docker-types.js';
import { roleLabels } from './labels.js';
import { odooTask, type OdooRuntimeInput } from './odoo-service.js';
import { oneShotJob } from './spec-parts.js';

/** `rollout`: every module updated (`-u all`) on a new build of the tenant's Odoo version. */
export type ModuleChangeKind = 'install' | 'update' | 'rollout';

/** The job's service name, after its module change's row: the sweep of ended jobs finds the row by it. */
export const moduleJobName = (changeId: string): string => `mc-${changeId}`;

/** What the job runs: Odoo installs (`-i`) or updates (`-u`, a rollout's `all` too) the modules in the tenant's database, then exits. */
export const moduleJobArgs = (kind: ModuleChangeKind, modules: readonly string[]): string[] =>
  kind === 'install'
    ? ['-i', modules.join(','), '--without-demo', 'all', '--stop-after-init']
    : ['-u', modules.join(','), '--stop-after-init'];

/**
 * The one-shot job that installs or updates a tenant's modules while its server is stopped: the server's image, config
 * secret, data dir and limits, labelled `modules`. Never tried again: a change that failed half-way is rolled back
 * from its FINAL backup, not run over what it left. Pure.
 */
export function odooModuleJobSpec(
  input: OdooRuntimeInput,
  changeId: string,
  kind: ModuleChangeKind,
  modules: readonly string[],
): ServiceSpec {
  const { container, task } = odooTask(input, 'modules', moduleJobArgs(kind, modules));
  return oneShotJob(moduleJobName(changeId), roleLabels(input.instance.id, 'modules', input.extraLabels), {
    ...task,
    ContainerSpec: container,
    RestartPolicy: { Condition: 'none', Delay: 0, MaxAttempts: 0 },
  });
}
