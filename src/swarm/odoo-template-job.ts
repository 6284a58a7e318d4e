import type { ServiceSpec } from './docker-types.js';
import { templateLabels, type Labels } from './labels.js';
import { initArgs, odooInitJobSpec } from './odoo-init-job.js';
import type { OdooSpec } from './odoo-config.js';

export interface TemplateJobInput {
  templateId: string;
  serviceName: string;
  /** The image, limits and environment the template is built with: what tenants of its version run. */
  spec: OdooSpec;
  modules: string[];
  network: string;
  /** The template's data dir as bind mounts see it (CEPHFS_TENANT_ROOT's tree): its filestore is written there. */
  dataDir: string;
  configSecret: { id: string; name: string };
  restartMaxAttempts: number;
  restartDelaySeconds: number;
  odooUid: number;
  extraLabels?: Labels;
}

/**
 * The one-shot Swarm job that builds a template: a tenant's init job (same image, config file in a secret, limits),
 * installing the template's modules into the template's database, with the template's data dir and labels. Pure.
 */
export function odooTemplateJobSpec(input: TemplateJobInput): ServiceSpec {
  const init = odooInitJobSpec(
    {
      instance: { id: input.templateId, subdomain: input.serviceName },
      spec: input.spec,
      serviceName: input.serviceName,
      network: input.network,
      cephfsRoot: input.dataDir,
      dataDir: input.dataDir,
      configSecret: input.configSecret,
      restartMaxAttempts: input.restartMaxAttempts,
      restartDelaySeconds: input.restartDelaySeconds,
      odooUid: input.odooUid,
    },
    initArgs(input.modules),
  );
  const labels = templateLabels(input.templateId, input.extraLabels);
  const task = init.TaskTemplate;
  return {
    ...init,
    Name: input.serviceName,
    Labels: labels,
    TaskTemplate: { ...task, ContainerSpec: { ...task.ContainerSpec, Labels: labels } },
  };
}
