import type { ServiceSpec } from './docker-types.js';
import { roleLabels } from './labels.js';
import { ODOO_HTTP_PORT } from './odoo-config.js';
import type { OdooRuntimeInput } from './odoo-service.js';
import { oneShotJob, onNetwork } from './spec-parts.js';

/** The job's service name, after its module change's row. */
export const checkJobName = (changeId: string): string => `ck-${changeId}`;

/**
 * Asks the server for its login page and looks for the login field: Odoo renders it from the database (registry, views,
 * assets), so a page with it shows the server works on its data, past its health check (which needs no database). The
 * URL is the script's first argument: nothing is interpolated into it.
 */
export const LOGIN_CHECK_SCRIPT =
  'curl -fsS -m 60 --retry 5 --retry-delay 2 --retry-connrefused "$1" | grep -q \'name="login"\' || { echo "no login form at $1" >&2; exit 1; }';

/**
 * Pure: a one-shot job on the tenant's network, from the image it now runs (it has curl: the health check uses it),
 * that checks the tenant's server serves its login page. No secret, no data, no alias: it only looks.
 */
export function odooLoginCheckJobSpec(input: OdooRuntimeInput, changeId: string): ServiceSpec {
  const url = `http://${input.serviceName}:${ODOO_HTTP_PORT}/web/login`;
  const labels = roleLabels(input.instance.id, 'check', input.extraLabels);
  return oneShotJob(checkJobName(changeId), labels, {
    ContainerSpec: { Image: input.spec.image, Labels: labels, Command: ['sh', '-c', LOGIN_CHECK_SCRIPT, 'login-check', url] },
    Resources: { Limits: { NanoCPUs: 250_000_000, MemoryBytes: 64 * 1024 * 1024 } },
    Networks: onNetwork(input.network),
    RestartPolicy: { Condition: 'none', Delay: 0, MaxAttempts: 0 },
  });
}
