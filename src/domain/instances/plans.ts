import { sql, type RawBuilder } from 'kysely';
import { z } from 'zod';
import type { PlanRow } from '../../db/schema.js';
import type { Config } from '../../config/config.js';
import type { Deps } from '../../deps.js';
import { cpuCores, memorySize, storageSize } from '../sizes.js';
import { ODOO_MIN_CPU, ODOO_MIN_MEMORY_MB } from '../../swarm/odoo-config.js';
import { parseInput } from '../validation.js';

export const planName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$/, 'must be 1-60 letters, digits or . _ - (a Kill Bill plan name)');

export const planInput = z.object({
  name: planName,
  cpuLimit: cpuCores(ODOO_MIN_CPU, 64),
  memoryLimit: memorySize(ODOO_MIN_MEMORY_MB, 256 * 1024),
  /** Filestore and database together; none: no limit. */
  storageLimit: storageSize('10M', '1024T').nullish(),
  description: z.string().max(500, 'must be at most 500 characters').nullish(),
});
export type PlanInput = z.input<typeof planInput>;

/** What the default plan gives until an admin defines a plan of that name: a fresh install can create tenants. */
const BUILT_IN = {
  cpu_limit: 1,
  memory_limit_mb: 1024,
  storage_limit_bytes: String(10 * 2 ** 30),
  description: 'built-in default (1 CPU, 1G, 10G of storage)',
};

const builtInPlan = (name: string): PlanRow => ({ name, ...BUILT_IN, created_at: new Date(0), updated_at: new Date(0) });

/** Creates or replaces a catalog entry; instances already on it keep their limits until their plan changes. */
export async function upsertPlan(deps: Pick<Deps, 'db'>, raw: PlanInput): Promise<PlanRow> {
  const input = parseInput(planInput, raw);
  const values = {
    cpu_limit: input.cpuLimit,
    memory_limit_mb: input.memoryLimit,
    storage_limit_bytes: input.storageLimit ?? null,
    description: input.description ?? null,
  };
  return deps.db
    .insertInto('plans')
    .values({ name: input.name, ...values })
    .onConflict((oc) => oc.column('name').doUpdateSet({ ...values, updated_at: sql`now()` }))
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The catalog by name, with the built-in default plan unless one of its name is defined. */
export async function listPlans(deps: Pick<Deps, 'db' | 'config'>): Promise<PlanRow[]> {
  const rows = await deps.db.selectFrom('plans').selectAll().orderBy('name').execute();
  const defaultName = deps.config.plans.defaultPlan;
  return rows.some((row) => row.name === defaultName) ? rows : [builtInPlan(defaultName), ...rows];
}

const planColumns = sql.join(
  ['name', 'cpu_limit', 'memory_limit_mb', 'storage_limit_bytes', 'description', 'created_at', 'updated_at'].map((c) => sql.ref(c)),
);

/**
 * The plan named (by a Kill Bill subscription's planName), or DEFAULT_PLAN when there is none or it is not in the
 * catalog, else the built-in default: one row, as a query a statement can read from (admission reads it while it
 * inserts the instance).
 */
export function chosenPlanSql(config: Pick<Config, 'plans'>, name: string | null | undefined): RawBuilder<PlanRow> {
  const defaultName = config.plans.defaultPlan;
  const builtIn = builtInPlan(defaultName);
  return sql<PlanRow>`select ${planColumns} from (
      select ${planColumns}, 0 as rank from plans where name = ${name || defaultName}
      union all select ${planColumns}, 1 from plans where name = ${defaultName}
      union all select ${builtIn.name}, ${builtIn.cpu_limit}, ${builtIn.memory_limit_mb}, ${builtIn.storage_limit_bytes}::bigint,
        ${builtIn.description}, ${builtIn.created_at}, ${builtIn.updated_at}, 2
    ) as candidates order by rank limit 1`;
}

export async function resolvePlan(deps: Pick<Deps, 'db' | 'config'>, name: string | null | undefined): Promise<PlanRow> {
  return (await chosenPlanSql(deps.config, name).execute(deps.db)).rows[0]!;
}
