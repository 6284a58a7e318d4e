import type { Config } from '../../config/config.js';
import type { InstanceRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { odooSpec, type OdooSpec } from '../../swarm/odoo-config.js';
import type { Executor } from '../../db/transaction.js';
import type { Deps } from '../../deps.js';
import { patchInstance } from './instance-events.js';

/** The Odoo versions tenants may choose here, in ODOO_IMAGES' order. */
export const offeredOdooVersions = (config: Pick<Config, 'odooImages'>): string[] => Object.keys(config.odooImages);

/** What this replica's config gives the instance's version with these limits; a version it does not offer is refused. */
export function specFromConfig(
  config: Pick<Config, 'odooImages' | 'tenants'>,
  instance: Pick<InstanceRow, 'id' | 'odoo_version'>,
  limits: { cpuLimit: number; memoryLimitMb: number },
): OdooSpec {
  const image = config.odooImages[instance.odoo_version];
  if (!image)
    throw new DomainError(
      'CONFLICT',
      `Odoo ${instance.odoo_version} of instance ${instance.id} is not among this daemon's versions (ODOO_IMAGES: ${offeredOdooVersions(config).join(', ')}).`,
    );
  return odooSpec({ version: instance.odoo_version, image, ...limits, env: config.tenants.odooExtraEnv });
}

/** The spec the instance's Odoo runs with, as recorded; null before it was provisioned. */
export const recordedSpec = (instance: Pick<InstanceRow, 'odoo_spec'>): OdooSpec | null => instance.odoo_spec as OdooSpec | null;

/**
 * The instance's recorded spec. One provisioned before specs were recorded gets this replica's now, recorded, so every
 * later action (on any replica) builds the same Odoo.
 */
export async function pinnedSpec(
  deps: { config: Pick<Config, 'odooImages' | 'tenants'> } & Pick<Deps, 'events'>,
  executor: Executor,
  instance: InstanceRow,
): Promise<OdooSpec> {
  const recorded = recordedSpec(instance);
  if (recorded) return recorded;
  return recordSpec(
    deps,
    executor,
    instance.id,
    specFromConfig(deps.config, instance, { cpuLimit: instance.cpu_limit, memoryLimitMb: instance.memory_limit_mb }),
    { onlyIfNone: true },
  );
}

/** Writes `spec` on the row (only if it has none, with `onlyIfNone`: then the spec another caller recorded wins). */
export async function recordSpec(
  deps: Pick<Deps, 'events'>,
  executor: Executor,
  instanceId: string,
  spec: OdooSpec,
  options = { onlyIfNone: false },
): Promise<OdooSpec> {
  const written = await patchInstance(
    deps,
    executor,
    instanceId,
    { odoo_spec: JSON.stringify(spec) },
    options.onlyIfNone ? { onlyIf: (eb) => eb('odoo_spec', 'is', null) } : {},
  );
  if (written) return written.odoo_spec as OdooSpec;
  const current = await executor.selectFrom('instances').select('odoo_spec').where('id', '=', instanceId).executeTakeFirstOrThrow();
  return current.odoo_spec as OdooSpec;
}
