import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool, type Transaction } from 'kysely';
import type { Database, InstanceRow, InstanceStatus, InstanceUpdate, PoolRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { withTransaction } from '../../db/transaction.js';
import { DomainError } from '../../errors.js';
import { moveInstance, patchInstance, type Trigger } from '../instances/instance-events.js';
import { instanceMoves } from '../instances/instance-status.js';
import { lockInstance } from '../instances/instance-lock.js';
import { releaseSlot, slotBumpSql, slotPoolSql } from '../pools/pool-state.js';
import { type PoolAccess } from '../../db/pool-access.js';
import { allows } from '../instances/instance-policy.js';
import { conditionsWith } from '../instances/instance-conditions.js';

/**
 * How long a caller owns the slot it reserved while it makes the role and database. Far above the few hundred
 * milliseconds that takes; past it, the caller is presumed gone (a daemon killed mid-way) and anyone may take over.
 */
export const RESERVATION_LEASE_MS = 120_000;

/** A slot counted on `pool` for the instance (in `status`), owned by the caller until `lease`. */
export interface Reservation {
  instance: Pick<InstanceRow, 'id' | 'status'>;
  pool: PoolAccess;
  lease: Date;
}

export type ReserveOutcome =
  | { kind: 'reserved'; reservation: Reservation }
  /** The role and database exist: the instance row is the answer. */
  | { kind: 'ready'; instance: InstanceRow }
  /** Another caller holds the reservation until `until`. */
  | { kind: 'busy'; until: Date }
  | { kind: 'no-capacity' };

const allocatable: InstanceStatus[] = [...instanceMoves.allocate.from];

/**
 * Reserves a slot for the instance: at once in the common case, else in a short transaction that also answers for
 * an instance already allocated, a reservation held by another caller, one abandoned (taken over), or no room.
 */
export async function reserveSlot(deps: Deps, instanceId: string, skipPoolIds: string[]): Promise<ReserveOutcome> {
  const quick = await reserveAtOnce(deps.db, instanceId, skipPoolIds, 'skip-locked');
  return quick ? { kind: 'reserved', reservation: quick } : reserveInTransaction(deps, instanceId, skipPoolIds);
}

/**
 * One statement, so one round trip (and its own commit, outside a transaction): the instance row (unallocated and
 * allocatable), the best pool with room (as `slotPoolSql` orders them), its counter bumped, and the instance naming it.
 * `skip-locked` passes over pool rows other callers hold, so concurrent callers spread over the pools; `wait` waits
 * for them (each held only for another caller's bump), so a pool with room never reads as full. Nothing when any of
 * that does not hold.
 */
async function reserveAtOnce(
  executor: Kysely<Database> | Transaction<Database>,
  instanceId: string,
  skipPoolIds: string[],
  locked: 'skip-locked' | 'wait',
): Promise<Reservation | undefined> {
  const lease = new Date(Date.now() + RESERVATION_LEASE_MS);
  const { rows } = await sql<PoolRow & { instance_status: InstanceRow['status'] }>`
    with instance as (
      select id from instances
      where id = ${instanceId} and db_allocation is null and status in (${sql.join(allocatable)})
      for update
    ), pool as (${slotPoolSql(skipPoolIds, locked)}), bumped as (${slotBumpSql()}), reserved as (
      update instances
      set db_server_id = bumped.id, db_allocation = 'reserved', db_reserved_until = ${lease}, updated_at = now()
      from bumped
      where instances.id = ${instanceId}
      returning instances.status
    )
    select bumped.*, reserved.status as instance_status from bumped, reserved`.execute(executor);
  const row = rows[0];
  if (!row) return undefined;
  const { instance_status: status, ...pool } = row;
  return { instance: { id: instanceId, status }, pool, lease };
}

/** The instance row locked, then why the statement above reserved nothing, or a reservation after waiting. */
async function reserveInTransaction(deps: Deps, instanceId: string, skipPoolIds: string[]): Promise<ReserveOutcome> {
  return withTransaction(deps.db, async (trx): Promise<ReserveOutcome> => {
    const instance = await lockInstance(trx, instanceId);
    if (instance.status === 'TERMINATED') throw new DomainError('CONFLICT', `Instance ${instanceId} is terminated.`);
    if (instance.db_allocation === 'ready') return { kind: 'ready', instance };
    if (!allocatable.includes(instance.status)) {
      throw new DomainError('CONFLICT', `Instance ${instanceId} is ${instance.status} and cannot be allocated a database.`);
    }
    if (instance.db_allocation === 'reserved') {
      const lease = new Date(Date.now() + RESERVATION_LEASE_MS);
      if (instance.db_reserved_until! > new Date()) return { kind: 'busy', until: instance.db_reserved_until! };
      const pool = await trx.selectFrom('db_servers').selectAll().where('id', '=', instance.db_server_id!).executeTakeFirstOrThrow();
      const taken = (await patchInstance(deps, trx, instance.id, { db_reserved_until: lease }))!;
      return { kind: 'reserved', reservation: { instance: taken, pool, lease } };
    }

    const reservation = await reserveAtOnce(trx, instanceId, skipPoolIds, 'wait');
    return reservation ? { kind: 'reserved', reservation } : { kind: 'no-capacity' };
  });
}

/** Whether the caller still owns the reservation (extending it), or who decides about it now. */
export async function renewReservation(deps: Deps, reservation: Reservation): Promise<'mine' | 'terminating' | 'other'> {
  const lease = new Date(Date.now() + RESERVATION_LEASE_MS);
  const renewed = await patchInstance(
    deps,
    deps.db,
    reservation.instance.id,
    { db_reserved_until: lease },
    { onlyIf: heldBy(reservation) },
  );
  if (renewed) {
    reservation.lease = lease;
    return 'mine';
  }
  const now = await deps.db.selectFrom('instances').select('status').where('id', '=', reservation.instance.id).executeTakeFirst();
  return !now || allows('ended', now.status) ? 'terminating' : 'other';
}

/** The instance row still holds this caller's reservation and may be allocated. */
const heldBy =
  (reservation: Reservation) =>
  (eb: ExpressionBuilder<Database, 'instances'>): Expression<SqlBool> =>
    eb.and([eb('db_allocation', '=', 'reserved'), eb('db_reserved_until', '=', reservation.lease), eb('status', 'in', allocatable)]);

/**
 * The role and database exist: the instance moves to ALLOCATED with the address tenants use, in one statement.
 * Undefined when the reservation is no longer this caller's (terminated meanwhile, or taken over after its lease).
 */
export async function confirmReservation(
  deps: Deps,
  reservation: Reservation,
  address: { host: string; port: number },
  trigger: Trigger,
  message: string,
  made: Pick<InstanceUpdate, 'template_id' | 'initialized_at'> = {},
): Promise<InstanceRow | undefined> {
  return moveInstance(deps, deps.db, reservation.instance, 'allocate', trigger, {
    patch: {
      ...made,
      db_host: address.host,
      db_port: address.port,
      db_allocation: 'ready',
      db_reserved_until: null,
      conditions: conditionsWith('allocation', null),
    },
    message,
    onlyIf: heldBy(reservation),
  });
}

/** Gives the slot back: the instance names no pool again and the pool counts one fewer (`full` opens). */
export async function releaseReservation(deps: Deps, reservation: Reservation): Promise<boolean> {
  return withTransaction(deps.db, async (trx) => {
    const released = await patchInstance(
      deps,
      trx,
      reservation.instance.id,
      { db_server_id: null, db_allocation: null, db_reserved_until: null },
      { onlyIf: heldBy(reservation) },
    );
    if (!released) return false;
    await releaseSlot(trx, reservation.pool.id);
    return true;
  });
}
