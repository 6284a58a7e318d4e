import { sql, type Expression, type RawBuilder, type Transaction } from 'kysely';
import type { Database, HealthStatus, NewPoolRow, PoolRow, PoolStatus } from '../../db/schema.js';
import type { Executor } from '../../db/transaction.js';
import { inService, isInService, type PoolAccess } from '../../db/pool-access.js';

/**
 * The one owner of a pool's state (`db_servers`): which status may follow which, the capacity rule, the free-slot
 * condition, and every statement that writes a pool row (its entry, status, counter, health, settings, service or
 * sealed admin password).
 */

/** Which status may follow which. A pool that stays in its status is no transition and always allowed. */
const next: Record<PoolStatus, readonly PoolStatus[]> = {
  // Becomes active (or full) once the daemon logs in as admin; error when its tasks keep failing.
  provisioning: ['active', 'full', 'error', 'decommissioned'],
  active: ['full', 'maintenance', 'decommissioned'],
  // Never empty (capacity is at least 1), so never decommissioned before a slot is released.
  full: ['active', 'maintenance'],
  maintenance: ['active', 'full', 'decommissioned'],
  // Provisioned again under its name, or back in service when it answers again.
  error: ['provisioning', 'active', 'full', 'maintenance', 'decommissioned'],
  decommissioned: [],
};

export const canMovePool = (from: PoolStatus, to: PoolStatus): boolean => from === to || next[from].includes(to);

/** Pools whose server should answer its admin: their health is watched, and an `error` one may recover. */
export const watchedStatuses: readonly PoolStatus[] = ['active', 'full', 'maintenance', 'error'];

/** The capacity rule: a pool in service is `full` when it holds as many instances as it may, else `active`. */
export const capacityStatus = (current: number, max: number): 'active' | 'full' => (current >= max ? 'full' : 'active');

/** The capacity rule in SQL, for statements that count and decide in one go (see capacityStatus). */
const capacityStatusSql = (current: Expression<number> | RawBuilder<number>, max: Expression<number> | RawBuilder<number>) =>
  sql<PoolStatus>`case when ${current} >= ${max} then 'full' else 'active' end`;

/** After the count changes to `current`: a pool in service follows the capacity rule, any other keeps its status. */
const statusAfterCount = (current: RawBuilder<number>) =>
  sql<PoolStatus>`case when status in (${sql.join(inService)}) then ${capacityStatusSql(current, sql<number>`max_instances`)} else status end`;

/** Where allocation may place a database: active and not unhealthy (free slots count only there). */
const takesTenantsSql = sql<boolean>`status = 'active' and health_status <> 'unhealthy'`;

/** A pool with a free slot. */
const hasFreeSlotSql = sql<boolean>`${takesTenantsSql} and current_instances < max_instances`;

/** A pool's free slots: room left where allocation may place a database, else none. For sums. */
export const freeSlotsSql = sql<number>`case when ${takesTenantsSql} then max_instances - current_instances else 0 end`;

const changed = { updated_at: sql<Date>`now()` };
const moved = { status_changed_at: sql<Date>`now()`, updated_at: sql<Date>`now()` };

function assertMove(pool: Pick<PoolRow, 'name' | 'status'>, to: PoolStatus): void {
  if (!canMovePool(pool.status, to)) throw new Error(`illegal pool transition ${pool.status} -> ${to} (${pool.name})`);
}

/**
 * A registered server enters in service: it has just proved its admin can log in and create tenants. Undefined
 * when a pool of that name was registered meanwhile.
 */
export async function addRegisteredPool(
  executor: Executor,
  values: Omit<NewPoolRow, 'server_type' | 'status' | 'health_status' | 'last_health_check_at'>,
): Promise<PoolRow | undefined> {
  return executor
    .insertInto('db_servers')
    .values({
      ...values,
      server_type: 'registered',
      status: capacityStatus(0, values.max_instances),
      health_status: 'healthy',
      last_health_check_at: new Date(),
    })
    .onConflict((oc) => oc.column('name').doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** A pool the daemon makes enters `provisioning`, until it logs in as its admin (activatePool). */
export async function addProvisioningPool(executor: Executor, values: Omit<NewPoolRow, 'server_type' | 'status'>): Promise<PoolRow> {
  return executor
    .insertInto('db_servers')
    .values({ ...values, server_type: 'provisioned', status: 'provisioning' })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * A pool's reservations whose role and database are still being made. Among pools of one priority the one with the
 * fewest goes first: by load alone, a slower server would be handed as many sign-ups as a fast one, and the DDL
 * pending on it would pile up (its CPU then spent on contention) while the fast one idles.
 */
const reservationsInFlightSql = sql<number>`(select count(*) from instances reserved
    where reserved.db_server_id = db_servers.id and reserved.db_allocation = 'reserved')`;

/**
 * Take a slot, as two CTE bodies for a statement whose CTE `instance` yields a row when the taker may take one:
 * `slotPoolSql` (the CTE `pool`), the best pool with a free slot (by priority, then reservations in flight, then
 * load), locked once `instance` said yes (so a taker waiting on its own locks holds no pool); `slotBumpSql` (the CTE
 * `bumped`), that pool with one more instance counted. `skip-locked` passes over pools other callers hold; `wait`
 * waits for them.
 */
export function slotPoolSql(skipPoolIds: string[], locked: 'skip-locked' | 'wait'): RawBuilder<{ id: string }> {
  const skip = skipPoolIds.length > 0 ? sql`and id not in (${sql.join(skipPoolIds)})` : sql``;
  return sql`select id from db_servers
    where ${hasFreeSlotSql} ${skip} and exists (select 1 from instance)
    order by priority, ${reservationsInFlightSql}, current_instances::float8 / max_instances, name
    limit 1
    for update ${locked === 'skip-locked' ? sql`skip locked` : sql``}`;
}

/** What tenants are given: a provisioned pool's service name on the overlay, a registered pool's own address. */
export const tenantAddress = (pool: PoolAccess): { host: string; port: number } => ({
  host: pool.tenant_host ?? pool.host,
  port: pool.tenant_port ?? pool.port,
});

export const slotBumpSql = (): RawBuilder<PoolRow> => sql`update db_servers
    set current_instances = current_instances + 1,
        status = ${statusAfterCount(sql<number>`current_instances + 1`)},
        updated_at = now()
    from pool, instance
    where db_servers.id = pool.id
    returning db_servers.*`;

/** Gives a slot back: one fewer instance counted, and a `full` pool opens. */
export async function releaseSlot(executor: Executor, poolId: string): Promise<void> {
  await executor
    .updateTable('db_servers')
    .set({ current_instances: sql`current_instances - 1`, status: statusAfterCount(sql<number>`current_instances - 1`), ...changed })
    .where('id', '=', poolId)
    .execute();
}

/** A provisioned pool the daemon logged in to: in service, healthy. False when it was no longer provisioning. */
export async function activatePool(executor: Executor, pool: Pick<PoolRow, 'id'>): Promise<boolean> {
  const updated = await executor
    .updateTable('db_servers')
    .set({
      status: capacityStatusSql(sql<number>`current_instances`, sql<number>`max_instances`),
      health_status: 'healthy',
      health_failures: 0,
      last_health_check_at: sql`now()`,
      last_health_error: null,
      status_reason: null,
      ...moved,
    })
    .where('id', '=', pool.id)
    .where('status', '=', 'provisioning')
    .executeTakeFirst();
  return updated.numUpdatedRows > 0n;
}

/** Why a pool being provisioned is not active yet, for the operator to see. */
export async function recordProvisioningProgress(executor: Executor, pool: Pick<PoolRow, 'id'>, reason: string): Promise<void> {
  await executor
    .updateTable('db_servers')
    .set({ status_reason: reason, ...changed })
    .where('id', '=', pool.id)
    .where('status', '=', 'provisioning')
    .execute();
}

/** The Swarm service a pool being provisioned runs as. */
export async function recordPoolService(executor: Executor, pool: Pick<PoolRow, 'id' | 'name'>, serviceId: string): Promise<PoolRow> {
  return executor
    .updateTable('db_servers')
    .set({ service_name: pool.name, service_id: serviceId, ...changed })
    .where('id', '=', pool.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** A pool in `error` provisioned again in place, with new sizing. */
export async function reprovisionPool(
  executor: Executor,
  pool: Pick<PoolRow, 'id' | 'name' | 'status'>,
  sizing: Pick<PoolRow, 'max_instances' | 'cpu_limit' | 'memory_limit_mb' | 'priority'>,
): Promise<PoolRow> {
  assertMove(pool, 'provisioning');
  return executor
    .updateTable('db_servers')
    .set({ ...sizing, status: 'provisioning', status_reason: null, ...moved })
    .where('id', '=', pool.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Provisioning given up: `error` with the reason, no service. */
export async function failPool(executor: Executor, pool: Pick<PoolRow, 'id' | 'name' | 'status'>, reason: string): Promise<PoolRow> {
  assertMove(pool, 'error');
  return executor
    .updateTable('db_servers')
    .set({ status: 'error', status_reason: reason, service_id: null, ...moved })
    .where('id', '=', pool.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The pool answered its admin: healthy, and a pool in `error` back in service. */
export async function recordHealthy(executor: Executor, pool: Pick<PoolRow, 'id'>): Promise<void> {
  await executor
    .updateTable('db_servers')
    .set({
      health_status: 'healthy',
      health_failures: 0,
      last_health_check_at: sql`now()`,
      last_health_error: null,
      status: sql`case when status = 'error' then ${capacityStatusSql(sql<number>`current_instances`, sql<number>`max_instances`)} else status end`,
      ...changed,
    })
    .where('id', '=', pool.id)
    .execute();
}

/** Health after failed probes in a row: `degraded`, then `unhealthy` (out of allocation) from `unhealthyAfter` on. */
export const healthAfterFailures = (failures: number, unhealthyAfter: number): HealthStatus =>
  failures >= unhealthyAfter ? 'unhealthy' : 'degraded';

/** The pool did not answer: one more failure in a row; returns the health it now reads. */
export async function recordProbeFailure(
  executor: Executor,
  pool: Pick<PoolRow, 'id' | 'health_failures'>,
  reason: string,
  unhealthyAfter: number,
): Promise<{ health: HealthStatus; failures: number }> {
  const failures = pool.health_failures + 1;
  const health = healthAfterFailures(failures, unhealthyAfter);
  await executor
    .updateTable('db_servers')
    .set({ health_status: health, health_failures: failures, last_health_check_at: sql`now()`, last_health_error: reason, ...changed })
    .where('id', '=', pool.id)
    .execute();
  return { health, failures };
}

/** Statuses an admin may change a pool's settings in: those of a running server; provisioning belongs to the tracker. */
export const adjustableStatuses = watchedStatuses;

/**
 * Pure: a pool's status after an admin's change: into maintenance, out of it (by capacity), or, in service, by the
 * new capacity; `error` stays until the pool answers again.
 */
export function statusAfterSettings(
  pool: Pick<PoolRow, 'status' | 'current_instances'>,
  maxInstances: number,
  maintenance: boolean | null | undefined,
): PoolStatus {
  if (maintenance === true) return 'maintenance';
  if (maintenance === false && pool.status === 'maintenance') return capacityStatus(pool.current_instances, maxInstances);
  if (isInService(pool.status)) return capacityStatus(pool.current_instances, maxInstances);
  return pool.status;
}

/** Capacity, priority and maintenance, with the status they give (statusAfterSettings); the row must be locked. */
export async function changePoolSettings(
  trx: Transaction<Database>,
  pool: PoolRow,
  settings: { maxInstances: number; priority: number; maintenance: boolean | null | undefined },
): Promise<PoolRow> {
  const status = statusAfterSettings(pool, settings.maxInstances, settings.maintenance);
  assertMove(pool, status);
  return trx
    .updateTable('db_servers')
    .set({ max_instances: settings.maxInstances, priority: settings.priority, status, ...changed })
    .where('id', '=', pool.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Out of service for good: no service or published port any more; the row stays for the instances' history. */
export async function decommission(trx: Transaction<Database>, pool: PoolRow): Promise<PoolRow> {
  assertMove(pool, 'decommissioned');
  return trx
    .updateTable('db_servers')
    .set({ status: 'decommissioned', service_id: null, published_port: null, ...moved })
    .where('id', '=', pool.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The admin password sealed again (key rotation), only if no one changed it meanwhile; true when written. */
export async function resealAdminPassword(executor: Executor, poolId: string, from: string, to: string): Promise<boolean> {
  const updated = await executor
    .updateTable('db_servers')
    .set({ admin_password_encrypted: to })
    .where('id', '=', poolId)
    .where('admin_password_encrypted', '=', from)
    .executeTakeFirst();
  return updated.numUpdatedRows > 0n;
}
