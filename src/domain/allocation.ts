import { sql, type Transaction } from 'kysely';
import { generatePassword } from '../crypto/passwords.js';
import type { Database, InstanceRow, PoolRow } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { DomainError, notFound } from '../errors.js';
import { deleteCredentials, storeCredentials } from './credentials.js';
import { moveInstance, type Trigger } from './instance-events.js';
import { statusesBefore } from './instance-status.js';
import { isUuid, tenantDatabaseName, tenantRoleName } from './names.js';
import { dropTenantDatabase, ensureTenantDatabase, withPoolAdmin, type TenantDatabase } from './pool-server.js';
import { provisionPool } from './pool-provisioning.js';
import { poolAdminAccess } from './pools.js';
import { withTransaction } from '../db/transaction.js';

/** Where an instance's database lives. The password is not part of it: it waits in Redis for provisioning. */
export interface Allocation {
  status: 'allocated';
  dbServerId: string;
  dbHost: string;
  dbPort: number;
  dbName: string;
  dbUser: string;
}

export const allocationOf = (instance: InstanceRow): Allocation | null =>
  instance.db_server_id && instance.db_host
    ? {
        status: 'allocated',
        dbServerId: instance.db_server_id,
        dbHost: instance.db_host,
        dbPort: instance.db_port ?? 5432,
        dbName: tenantDatabaseName(instance.id),
        dbUser: tenantRoleName(instance.id),
      }
    : null;

type Attempt =
  | { kind: 'allocated'; allocation: Allocation }
  | { kind: 'no-capacity' }
  | { kind: 'pool-failed'; pool: PoolRow; reason: string };

/**
 * Gives the instance a database on the best pool with room, or returns the allocation it already has.
 * One transaction holds the instance and the chosen pool locked while the role and database are made on the
 * pool, so concurrent calls can neither overshoot a pool nor allocate twice; any failure undoes every step.
 * No room anywhere: the instance waits (WAITING_FOR_DATABASE) and NO_POOL_CAPACITY is thrown.
 */
export async function allocateDatabase(
  deps: Deps,
  instanceId: string,
  trigger: Trigger = { cause: 'allocateDatabase', actor: 'admin' },
): Promise<Allocation> {
  const endTimer = deps.metrics.allocationSeconds.startTimer();
  try {
    const allocation = await allocate(deps, instanceId, trigger);
    endTimer({ outcome: 'allocated' });
    return allocation;
  } catch (error) {
    endTimer({ outcome: error instanceof DomainError && error.code === 'NO_POOL_CAPACITY' ? 'waiting' : 'failed' });
    throw error;
  }
}

async function allocate(deps: Deps, instanceId: string, trigger: Trigger): Promise<Allocation> {
  if (!isUuid(instanceId)) throw notFound('Instance', instanceId);
  const failedPools: PoolRow[] = [];
  const failures: string[] = [];
  for (;;) {
    const attempt = await attemptAllocation(deps, instanceId, trigger, failedPools.map((pool) => pool.id));
    if (attempt.kind === 'allocated') return attempt.allocation;
    if (attempt.kind === 'pool-failed') {
      deps.log.warn({ event: 'allocation.pool_failed', instanceId, poolId: attempt.pool.id, reason: attempt.reason }, 'pool refused allocation');
      failedPools.push(attempt.pool);
      failures.push(`${attempt.pool.name}: ${attempt.reason}`);
      continue;
    }
    const reason = failures.length > 0 ? `No pool could take the database (${failures.join('; ')}).` : 'No pool has room for a new database.';
    await recordWaiting(deps, instanceId, trigger, failures.length > 0 ? reason : null);
    if (deps.config.pools.growth.enabled) await growPools(deps);
    deps.log.debug({ event: 'allocation.waiting', instanceId }, 'no pool capacity; instance waits');
    throw new DomainError('NO_POOL_CAPACITY', `${reason} The instance waits and is allocated when a pool has room.`);
  }
}

async function attemptAllocation(deps: Deps, instanceId: string, trigger: Trigger, skipPoolIds: string[]): Promise<Attempt> {
  const made: { pool?: PoolRow; tenant?: TenantDatabase } = {};
  try {
    return await withTransaction(deps.db, async (trx): Promise<Attempt> => {
      const instance = await trx.selectFrom('instances').selectAll().where('id', '=', instanceId).forUpdate().executeTakeFirst();
      if (!instance) throw notFound('Instance', instanceId);
      if (instance.status === 'TERMINATED') throw new DomainError('CONFLICT', `Instance ${instanceId} is terminated.`);
      const existing = allocationOf(instance);
      if (existing) return { kind: 'allocated', allocation: existing };
      if (!statusesBefore('ALLOCATED').includes(instance.status)) {
        throw new DomainError('CONFLICT', `Instance ${instanceId} is ${instance.status} and cannot be allocated a database.`);
      }

      const pool = await lockPoolWithRoom(trx, skipPoolIds);
      if (!pool) return { kind: 'no-capacity' };

      const tenant = { database: tenantDatabaseName(instanceId), role: tenantRoleName(instanceId) };
      const password = generatePassword(32);
      try {
        await withPoolAdmin(poolAdminAccess(pool, deps.config.masterKey), (client) =>
          ensureTenantDatabase(client, tenant, password, deps.config.tenantConnectionLimit),
        );
      } catch (error) {
        await undoTenantDatabase(deps, instanceId, pool, tenant);
        return { kind: 'pool-failed', pool, reason: (error as Error).message };
      }
      Object.assign(made, { pool, tenant });

      await trx
        .updateTable('db_servers')
        .set({
          current_instances: sql`current_instances + 1`,
          status: sql`case when current_instances + 1 >= max_instances then 'full' else status end`,
          updated_at: sql`now()`,
        })
        .where('id', '=', pool.id)
        .execute();
      const allocated = await moveInstance(deps, trx, instance, 'ALLOCATED', trigger, {
        patch: { db_server_id: pool.id, db_host: tenantAddress(pool).host, db_port: tenantAddress(pool).port, error: null },
        message: `database ${tenant.database} on pool ${pool.name}`,
      });
      await storeCredentials(
        deps.redis,
        instanceId,
        { db_host: tenantAddress(pool).host, db_port: tenantAddress(pool).port, db_name: tenant.database, db_user: tenant.role, db_password: password },
        deps.config.credentialsTtlSeconds,
      );
      deps.log.info({ event: 'allocation.done', instanceId, poolId: pool.id, dbName: tenant.database }, 'database allocated');
      return { kind: 'allocated', allocation: allocationOf(allocated!)! };
    });
  } catch (error) {
    if (made.pool && made.tenant) {
      await undoTenantDatabase(deps, instanceId, made.pool, made.tenant);
      await deleteCredentials(deps.redis, instanceId).catch(() => undefined);
    }
    throw error;
  }
}

/** Removes what an unfinished allocation made on the pool; what cannot be removed is logged for the operator. */
async function undoTenantDatabase(deps: Deps, instanceId: string, pool: PoolRow, tenant: TenantDatabase): Promise<void> {
  try {
    await withPoolAdmin(poolAdminAccess(pool, deps.config.masterKey), (client) => dropTenantDatabase(client, tenant));
  } catch (error) {
    deps.log.error(
      { event: 'allocation.orphan', instanceId, poolId: pool.id, database: tenant.database, role: tenant.role, reason: (error as Error).message },
      'could not remove a partly made tenant database',
    );
  }
}

/** The first time no pool has room, the instance moves to WAITING_FOR_DATABASE; later tries only refresh the reason. */
async function recordWaiting(deps: Deps, instanceId: string, trigger: Trigger, error: string | null): Promise<void> {
  const instance = await deps.db.selectFrom('instances').select(['id', 'status', 'error']).where('id', '=', instanceId).executeTakeFirst();
  if (instance?.status === 'CREATING') {
    await moveInstance(deps, deps.db, instance, 'WAITING_FOR_DATABASE', trigger, { patch: { error }, message: error ?? 'no pool has room' });
  } else if (instance?.status === 'WAITING_FOR_DATABASE' && instance.error !== error) {
    await deps.db.updateTable('instances').set({ error, updated_at: sql`now()` }).where('id', '=', instanceId).execute();
  }
}

/** What tenants are given: a provisioned pool's service name on the overlay, a registered pool's own address. */
const tenantAddress = (pool: PoolRow) => ({ host: pool.tenant_host ?? pool.host, port: pool.tenant_port ?? pool.port });

/** No room anywhere: start one more pool, unless one is already being made for that reason. */
async function growPools(deps: Deps): Promise<void> {
  const { maxInstances } = deps.config.pools.growth;
  try {
    const pool = await provisionPool(deps, { maxInstances }, 'growth');
    if (pool) deps.log.info({ event: 'pool.growth', poolId: pool.id, pool: pool.name }, 'no pool has room: provisioning one');
  } catch (error) {
    deps.log.error({ event: 'pool.growth_failed', err: error }, 'could not start a pool for growth');
  }
}

async function lockPoolWithRoom(trx: Transaction<Database>, skipPoolIds: string[]): Promise<PoolRow | undefined> {
  let query = trx
    .selectFrom('db_servers')
    .selectAll()
    .where('status', '=', 'active')
    .where('health_status', '<>', 'unhealthy')
    .where(sql<boolean>`current_instances < max_instances`);
  if (skipPoolIds.length > 0) query = query.where('id', 'not in', skipPoolIds);
  return query
    .orderBy('priority')
    .orderBy(sql`current_instances::float8 / max_instances`)
    .orderBy('name')
    .limit(1)
    .forUpdate()
    .executeTakeFirst();
}
