/** Label keys on every Docker object the daemon creates; listing by them finds what the daemon owns. */
export const labelKeys = {
  managed: 'odoo-orchestrator.managed',
  instanceId: 'odoo-orchestrator.instance-id',
  poolId: 'odoo-orchestrator.pool-id',
  /** The template a build job makes (its role is `template`). */
  templateId: 'odoo-orchestrator.template-id',
  /** What a service is for an instance: its one long-running `server`, or a one-shot job (`init`, `backup`, `restore`, `modules`, `check`). */
  role: 'odoo-orchestrator.role',
  /** Set by test suites only, so a suite can find and remove exactly what it created. */
  testRun: 'odoo-orchestrator.test-run',
} as const;

export type Labels = Record<string, string>;

/** Docker's list filters: each key maps to the values to match; every `label` entry must match. */
export type DockerFilters = Record<string, string[]>;

/** The daemon's own labels come last, so an extra label can never disown an object. */
export const managedLabels = (extra: Labels = {}): Labels => ({ ...extra, [labelKeys.managed]: 'true' });

export const instanceLabels = (instanceId: string, extra: Labels = {}): Labels => ({
  ...managedLabels(extra),
  [labelKeys.instanceId]: instanceId,
});

/** The roles a Swarm service can play for an instance; only `server` is the tenant's long-running service. */
export const instanceServiceRoles = ['server', 'init', 'backup', 'restore', 'modules', 'check'] as const;
export type InstanceServiceRole = (typeof instanceServiceRoles)[number];

/** The labels of one of an instance's services; the role comes last, so no extra label can change it. */
export const roleLabels = (instanceId: string, role: InstanceServiceRole, extra?: Labels): Labels => ({
  ...instanceLabels(instanceId, extra),
  [labelKeys.role]: role,
});

/** The labels of a template's build job: a one-shot job of no instance. */
export const templateLabels = (templateId: string, extra: Labels = {}): Labels => ({
  ...managedLabels(extra),
  [labelKeys.templateId]: templateId,
  [labelKeys.role]: 'template',
});

export const poolLabels = (poolId: string, extra: Labels = {}): Labels => ({
  ...managedLabels(extra),
  [labelKeys.poolId]: poolId,
});

export const testRunLabels = (testRun: string): Labels => ({ [labelKeys.testRun]: testRun });

/** Filters that match objects carrying all of `labels`, for `docker.listServices`, `listTasks`, `listSecrets`. */
export const labelFilters = (labels: Labels): DockerFilters => ({
  label: Object.entries(labels).map(([key, value]) => `${key}=${value}`),
});
