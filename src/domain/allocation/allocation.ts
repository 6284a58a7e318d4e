import { setTimeout as sleep } from 'node:timers/promises';
import { generatePassword, scramSha256VerifierAsync } from '../../crypto/passwords.js';
import type { InstanceRow, TemplateRow } from '../../db/schema.js';
import { tenantAddress } from '../pools/pool-state.js';
import type { Deps } from '../../deps.js';
import { DomainError, notFound } from '../../errors.js';
import { deleteCredentials, storeCredentials } from './credentials.js';
import { moveInstance, patchInstance, type Trigger } from '../instances/instance-events.js';
import { isUuid, tenantDatabaseName, tenantRoleName } from '../names.js';
import { dropTenantDatabase, ensureTenantDatabase, type TenantDatabase } from '../../db/pool-server.js';
import { copyTenantFromTemplate } from '../templates/template-copy.js';
import { dropUnfinishedCopy } from '../templates/template-database.js';
import { provisionPool } from '../pools/pool-provisioning.js';
import {
  confirmReservation,
  releaseReservation,
  renewReservation,
  reserveSlot,
  type Reservation,
  type ReserveOutcome,
} from './slot-reservation.js';
import { conditionsWith, reasonIn } from '../instances/instance-conditions.js';

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
  instance.db_allocation === 'ready' && instance.db_server_id && instance.db_host
    ? {
        status: 'allocated',
        dbServerId: instance.db_server_id,
        dbHost: instance.db_host,
        dbPort: instance.db_port ?? 5432,
        dbName: tenantDatabaseName(instance.id),
        dbUser: tenantRoleName(instance.id),
      }
    : null;

type Attempt = { kind: 'allocated'; instance: InstanceRow } | { kind: 'pool-failed'; reason: string } | { kind: 'undecided' };

/**
 * Gives the instance a database on the best pool with room, or returns the allocation it already has.
 * A slot is reserved first (one short statement: the pool's counter and the instance row, committed together), the
 * role and database are made on a kept admin connection outside any lock, then the slot is confirmed; a failure
 * drops what was made and gives the slot back. Concurrent callers never wait on one another's DDL, a pool never
 * counts more than it holds, and a reservation left by a daemon killed mid-way is finished by the reconciler.
 * No room anywhere: the instance waits (WAITING_FOR_DATABASE) and NO_POOL_CAPACITY is thrown.
 */
export async function allocateDatabase(
  deps: Deps,
  instanceId: string,
  trigger: Trigger = { cause: 'allocateDatabase', actor: 'admin' },
): Promise<Allocation> {
  return allocationOf(await allocateInstance(deps, instanceId, trigger))!;
}

/** A tenant's new password, and its SCRAM verifier on the way: the key derivation runs on libuv's threads meanwhile. */
export interface TenantSecret {
  password: string;
  verifier: Promise<string>;
}

export function newTenantSecret(): TenantSecret {
  const password = generatePassword(32);
  const verifier = scramSha256VerifierAsync(password);
  verifier.catch(() => undefined);
  return { password, verifier };
}

/** What a caller may have prepared for an allocation: a slot it reserved for the instance, tried first, and its secret. */
export interface AllocationStart {
  reserved?: Reservation;
  secret?: TenantSecret;
  /** false: the database is made empty even where a template is ready (the instance loads a backup into it). */
  templates?: boolean;
}

/**
 * allocateDatabase, answering with the instance row. createInstance starts the secret before it inserts the row, and
 * reserves the slot as it does.
 */
export async function allocateInstance(
  deps: Deps,
  instanceId: string,
  trigger: Trigger,
  start: AllocationStart = {},
): Promise<InstanceRow> {
  const endTimer = deps.metrics.allocationSeconds.startTimer();
  try {
    const instance = await allocate(deps, instanceId, trigger, start);
    endTimer({ outcome: 'allocated' });
    return instance;
  } catch (error) {
    endTimer({ outcome: error instanceof DomainError && error.code === 'NO_POOL_CAPACITY' ? 'waiting' : 'failed' });
    throw error;
  }
}

/** How often a caller looks again while another caller holds the instance's reservation. */
const BUSY_POLL_MS = 25;

async function allocate(deps: Deps, instanceId: string, trigger: Trigger, start: AllocationStart): Promise<InstanceRow> {
  if (!isUuid(instanceId)) throw notFound('Instance', instanceId);
  const { password, verifier } = start.secret ?? newTenantSecret();
  const failedPoolIds: string[] = [];
  const failures: string[] = [];
  let head: ReserveOutcome | undefined = start.reserved && { kind: 'reserved', reservation: start.reserved };
  for (;;) {
    const slot = head ?? (await reserveSlot(deps, instanceId, failedPoolIds));
    head = undefined;
    if (slot.kind === 'ready') return slot.instance;
    if (slot.kind === 'busy') {
      await sleep(BUSY_POLL_MS);
      continue;
    }
    if (slot.kind === 'reserved') {
      const { pool } = slot.reservation;
      const attempt = await completeReservation(
        deps,
        slot.reservation,
        { password, verifier: await verifier },
        trigger,
        start.templates ?? true,
      );
      if (attempt.kind === 'allocated') return attempt.instance;
      if (attempt.kind === 'pool-failed') {
        deps.log.warn({ event: 'allocation.pool_failed', instanceId, poolId: pool.id, reason: attempt.reason }, 'pool refused allocation');
        failedPoolIds.push(pool.id);
        failures.push(`${pool.name}: ${attempt.reason}`);
      }
      continue;
    }
    const reason =
      failures.length > 0 ? `No pool could take the database (${failures.join('; ')}).` : 'No pool has room for a new database.';
    await recordWaiting(deps, instanceId, trigger, failures.length > 0 ? reason : null);
    if (deps.config.pools.growth.enabled) await growPools(deps);
    deps.log.debug({ event: 'allocation.waiting', instanceId }, 'no pool capacity; instance waits');
    throw new DomainError('NO_POOL_CAPACITY', `${reason} The instance waits and is allocated when a pool has room.`);
  }
}

/**
 * Makes the role and database for a reserved slot while the credentials go to Redis, then confirms the slot; on
 * failure, undoes both and releases the slot. Credentials stored early are harmless: nothing reads them before the
 * row says ALLOCATED, and a later try overwrites them.
 */
async function completeReservation(
  deps: Deps,
  reservation: Reservation,
  secret: { password: string; verifier: string },
  trigger: Trigger,
  templates: boolean,
): Promise<Attempt> {
  const { instance, pool } = reservation;
  const tenant = { database: tenantDatabaseName(instance.id), role: tenantRoleName(instance.id) };
  const address = tenantAddress(pool);
  const [made, stored] = await Promise.allSettled([
    makeTenantDatabase(deps, reservation, tenant, secret.verifier, templates),
    storeCredentials(
      deps.redis,
      instance.id,
      { db_host: address.host, db_port: address.port, db_name: tenant.database, db_user: tenant.role, db_password: secret.password },
      deps.config.credentialsTtlSeconds,
    ),
  ]);
  if (made.status === 'rejected' || stored.status === 'rejected') {
    await abandonReservation(deps, reservation, tenant);
    if (made.status === 'rejected') return { kind: 'pool-failed', reason: (made.reason as Error).message };
    throw (stored as PromiseRejectedResult).reason;
  }

  // Should the control database fail here, the reservation stays and its lease runs out: the reconciler finishes it.
  const copied = made.value;
  const message = `database ${tenant.database} on pool ${pool.name}${copied ? `, copied from template ${copied.id}` : ''}`;
  const patch = copied ? { template_id: copied.id, initialized_at: new Date() } : {};
  const allocated = await confirmReservation(deps, reservation, address, trigger, message, patch).catch(async (error: unknown) => {
    await deleteCredentials(deps.redis, instance.id).catch(() => undefined);
    throw error;
  });
  if (!allocated) {
    await abandonReservation(deps, reservation, tenant);
    return { kind: 'undecided' };
  }
  deps.log.info({ event: 'allocation.done', instanceId: instance.id, poolId: pool.id, dbName: tenant.database }, 'database allocated');
  return { kind: 'allocated', instance: allocated };
}

/**
 * The tenant's database (and, from a template, its filestore): a copy of the pool's READY template when there is one
 * (answering with it), else made empty for the init job. A copy that fails is undone and the tenant made empty instead:
 * a template that cannot be copied never keeps a tenant out.
 */
async function makeTenantDatabase(
  deps: Deps,
  reservation: Reservation,
  tenant: TenantDatabase,
  verifier: string,
  templates: boolean,
): Promise<TemplateRow | undefined> {
  const { instance, pool } = reservation;
  const copied = templates ? await copyTenantFromTemplate(deps, instance.id, pool, tenant, verifier) : undefined;
  if (copied) return copied;
  await deps.poolConnections.use(pool, async (client) => {
    if (templates && deps.config.templates.enabled) await dropUnfinishedCopy(client, tenant);
    await ensureTenantDatabase(client, tenant, verifier, deps.config.tenantConnectionLimit, (database, work) =>
      deps.poolConnections.inDatabase(pool, database, work),
    );
  });
  return undefined;
}

/**
 * Undoes a reservation this caller can no longer finish. Still its own: drop what was made, then give the slot back
 * (killed in between, the reservation stays and is finished later, so nothing is orphaned). Terminated meanwhile:
 * drop again, since the DDL may have run after termination's drop; the slot is termination's to release.
 * Taken over by another caller: theirs to finish.
 */
async function abandonReservation(deps: Deps, reservation: Reservation, tenant: TenantDatabase): Promise<void> {
  const { instance, pool } = reservation;
  const owner = await renewReservation(deps, reservation);
  if (owner === 'other') return;
  await deleteCredentials(deps.redis, instance.id).catch(() => undefined);
  try {
    await deps.poolConnections.use(pool, (client) => dropTenantDatabase(client, tenant));
  } catch (error) {
    deps.log.error(
      {
        event: 'allocation.orphan',
        instanceId: instance.id,
        poolId: pool.id,
        database: tenant.database,
        role: tenant.role,
        reason: (error as Error).message,
      },
      'could not remove a partly made tenant database',
    );
  }
  if (owner === 'mine') await releaseReservation(deps, reservation);
}

/** The first time no pool has room, the instance moves to WAITING_FOR_DATABASE; later tries only refresh the reason. */
async function recordWaiting(deps: Deps, instanceId: string, trigger: Trigger, error: string | null): Promise<void> {
  const instance = await deps.db
    .selectFrom('instances')
    .select(['id', 'status', 'conditions'])
    .where('id', '=', instanceId)
    .executeTakeFirst();
  if (instance?.status === 'CREATING') {
    await moveInstance(deps, deps.db, instance, 'awaitDatabase', trigger, {
      patch: { conditions: conditionsWith('allocation', error) },
      message: error ?? 'no pool has room',
    });
  } else if (instance?.status === 'WAITING_FOR_DATABASE' && reasonIn(instance, 'allocation') !== error) {
    await patchInstance(deps, deps.db, instanceId, { conditions: conditionsWith('allocation', error) });
  }
}

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
