import { sql, type Transaction } from 'kysely';
import type { Database, InstanceRow, PoolRow } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { DomainError, notFound } from '../errors.js';
import { moveInstance, type Trigger } from './instance-events.js';
import { statusesBefore } from './instance-status.js';

/**
 * How long a caller owns the slot it reserved while it makes the role and database. Far above the few hundred
 * milliseconds that takes; past it, the caller is presumed gone (a daemon killed mid-way) and anyone may take over.
 */
export const RESERVATION_LEASE_MS = 120_000;

/** A slot counted on `pool` for the instance, owned by the caller until `lease`. */
export interface Reservation {
  instance: InstanceRow;
  pool: PoolRow;
  lease: Date;
}

export type ReserveOutcome =
  | { kind: 'reserved'; reservation: Reservation }
  /** The role and database exist: the instance row is the answer. */
  | { kind: 'ready'; instance: InstanceRow }
  /** Another caller holds the reservation until `until`. */
  | { kind: 'busy'; until: Date }
  | { kind: 'no-capacity' };

const allocatable = statusesBefore('ALLOCATED');

/**
 * One short transaction: the instance row, then a pool with room (SKIP LOCKED: callers spread over the pools rather
 * than queue behind one), its counter bumped and the instance naming it, committed together. The pool row is locked
 * for that bump only. An abandoned reservation (lease run out) is taken over instead.
 */
export async function reserveSlot(deps: Deps, instanceId: string, skipPoolIds: string[]): Promise<ReserveOutcome> {
  return deps.db.transaction().execute(async (trx): Promise<ReserveOutcome> => {
    const instance = await trx.selectFrom('instances').selectAll().where('id', '=', instanceId).forUpdate().executeTakeFirst();
    if (!instance) throw notFound('Instance', instanceId);
    if (instance.status === 'TERMINATED') throw new DomainError('CONFLICT', `Instance ${instanceId} is terminated.`);
    if (instance.db_allocation === 'ready') return { kind: 'ready', instance };
    if (!allocatable.includes(instance.status)) {
      throw new DomainError('CONFLICT', `Instance ${instanceId} is ${instance.status} and cannot be allocated a database.`);
    }
    const lease = new Date(Date.now() + RESERVATION_LEASE_MS);
    if (instance.db_allocation === 'reserved') {
      if (instance.db_reserved_until! > new Date()) return { kind: 'busy', until: instance.db_reserved_until! };
      const pool = await trx.selectFrom('db_servers').selectAll().where('id', '=', instance.db_server_id!).executeTakeFirstOrThrow();
      const taken = await setLease(trx, instance, lease);
      return { kind: 'reserved', reservation: { instance: taken, pool, lease } };
    }

    const pool = (await bumpPool(trx, skipPoolIds, true)) ?? (await bumpPool(trx, skipPoolIds, false));
    if (!pool) return { kind: 'no-capacity' };
    const reserved = await trx
      .updateTable('instances')
      .set({ db_server_id: pool.id, db_allocation: 'reserved', db_reserved_until: lease, updated_at: sql`now()` })
      .where('id', '=', instanceId)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { kind: 'reserved', reservation: { instance: reserved, pool, lease } };
  });
}

/**
 * Counts one more instance on the best pool with room: by priority, then by load. Skipping locked pools first, then,
 * when each pool with room was locked, waiting for one (held only for another caller's bump): the fallback keeps a
 * pool with room from reading as full.
 */
async function bumpPool(trx: Transaction<Database>, skipPoolIds: string[], skipLocked: boolean): Promise<PoolRow | undefined> {
  return trx
    .updateTable('db_servers')
    .set({
      current_instances: sql`current_instances + 1`,
      status: sql`case when current_instances + 1 >= max_instances then 'full' else status end`,
      updated_at: sql`now()`,
    })
    .where('id', '=', (eb) => {
      let candidates = eb
        .selectFrom('db_servers')
        .select('id')
        .where('status', '=', 'active')
        .where('health_status', '<>', 'unhealthy')
        .where(sql<boolean>`current_instances < max_instances`);
      if (skipPoolIds.length > 0) candidates = candidates.where('id', 'not in', skipPoolIds);
      const ordered = candidates.orderBy('priority').orderBy(sql`current_instances::float8 / max_instances`).orderBy('name').limit(1).forUpdate();
      return skipLocked ? ordered.skipLocked() : ordered;
    })
    .returningAll()
    .executeTakeFirst();
}

async function setLease(trx: Transaction<Database>, instance: InstanceRow, lease: Date): Promise<InstanceRow> {
  return trx
    .updateTable('instances')
    .set({ db_reserved_until: lease, updated_at: sql`now()` })
    .where('id', '=', instance.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Whether the caller still owns the reservation (extending it), or who decides about it now. */
export async function renewReservation(deps: Deps, reservation: Reservation): Promise<'mine' | 'terminating' | 'other'> {
  const lease = new Date(Date.now() + RESERVATION_LEASE_MS);
  const renewed = await ownedUpdate(deps.db, reservation).set({ db_reserved_until: lease }).returning('id').executeTakeFirst();
  if (renewed) {
    reservation.lease = lease;
    return 'mine';
  }
  const now = await deps.db.selectFrom('instances').select('status').where('id', '=', reservation.instance.id).executeTakeFirst();
  return !now || now.status === 'TERMINATING' || now.status === 'TERMINATED' ? 'terminating' : 'other';
}

/** The instance row, only while it still holds this caller's reservation and may be allocated. */
const ownedUpdate = (db: Deps['db'] | Transaction<Database>, reservation: Reservation) =>
  db
    .updateTable('instances')
    .where('id', '=', reservation.instance.id)
    .where('db_allocation', '=', 'reserved')
    .where('db_reserved_until', '=', reservation.lease)
    .where('status', 'in', allocatable);

/**
 * The role and database exist: the instance moves to ALLOCATED with the address tenants use. Undefined when the
 * reservation is no longer this caller's (terminated meanwhile, or taken over after its lease ran out).
 */
export async function confirmReservation(
  deps: Deps,
  reservation: Reservation,
  address: { host: string; port: number },
  trigger: Trigger,
  message: string,
): Promise<InstanceRow | undefined> {
  return deps.db.transaction().execute(async (trx) => {
    const owned = await ownedUpdate(trx, reservation).set({ db_host: address.host, db_port: address.port, db_allocation: 'ready', db_reserved_until: null }).returning(['id', 'status']).executeTakeFirst();
    if (!owned) return undefined;
    return moveInstance(deps, trx, owned, 'ALLOCATED', trigger, { patch: { error: null }, message });
  });
}

/** Gives the slot back: the instance names no pool again and the pool counts one fewer (`full` opens). */
export async function releaseReservation(deps: Deps, reservation: Reservation): Promise<boolean> {
  return deps.db.transaction().execute(async (trx) => {
    const released = await ownedUpdate(trx, reservation)
      .set({ db_server_id: null, db_allocation: null, db_reserved_until: null, updated_at: sql`now()` })
      .returning('id')
      .executeTakeFirst();
    if (!released) return false;
    await trx
      .updateTable('db_servers')
      .set({ current_instances: sql`current_instances - 1`, status: sql`case when status = 'full' then 'active' else status end`, updated_at: sql`now()` })
      .where('id', '=', reservation.pool.id)
      .execute();
    return true;
  });
}
