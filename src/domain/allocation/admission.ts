import { sql } from 'kysely';
import pg from 'pg';
import type { Database, InstanceRow, NewInstanceRow, PlanRow, PoolRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { DomainError } from '../../errors.js';
import { writeWithEventAnd, type Trigger } from '../instances/instance-events.js';
import { statusesWhere } from '../instances/instance-policy.js';
import { chosenPlanSql } from '../instances/plans.js';
import { slotBumpSql, slotPoolSql } from '../pools/pool-state.js';
import { poolAccessJsonSql, type PoolAccess } from '../../db/pool-access.js';
import { RESERVATION_LEASE_MS, type Reservation } from './slot-reservation.js';

/** What an instance takes from its plan, unless an admin sets it. */
type PlanLimit = 'plan' | 'cpu_limit' | 'memory_limit_mb' | 'storage_limit_bytes';

/** The plan asked for (a subscription's planName; resolved as resolvePlan does) and what an admin set instead. */
export interface PlanRequest {
  name: string | null | undefined;
  cpuLimit?: number | null;
  memoryLimitMb?: number | null;
}

/** What admit did: the instance, whether this call inserted it, and the slot it reserved with it (when one was free). */
export interface Admission {
  instance: InstanceRow;
  inserted: boolean;
  reservation?: Reservation;
}

/** The SQLSTATEs admit_instance (migration 013) raises a refusal with; its DETAIL says who holds, or how many. */
const SUBDOMAIN_HELD = 'IA001';
const AT_LIMIT = 'IA002';

/** The CTEs the admitting statement reads: `admitted` runs admit_instance; `pool` and `bumped` take a slot after it. */
interface AdmissionCtes {
  plan: PlanRow;
  admitted: { customer_id: string };
  instance: { one: number };
  pool: { id: string };
  bumped: PoolRow;
}

/**
 * Inserts the instance on its plan and its first event, within the customer's limit, with a slot reserved on the
 * best pool with room when one is free: one statement, so one round trip and one commit. admit_instance takes the
 * customer's lock and checks under it before anything is written; the same request again (customer, name,
 * subdomain) returns the instance it made.
 */
export async function admit(deps: Deps, row: Omit<NewInstanceRow, PlanLimit>, plan: PlanRequest, trigger: Trigger): Promise<Admission> {
  const limit = deps.config.plans.maxInstancesPerCustomer;
  const lease = new Date(Date.now() + RESERVATION_LEASE_MS);
  try {
    const creator = deps.db
      .with('plan', () => sql<PlanRow>`(${chosenPlanSql(deps.config, plan.name)})`)
      .with(
        'admitted',
        () =>
          sql<
            AdmissionCtes['admitted']
          >`(select admit_instance(${row.customer_id}, ${row.subdomain}, ${limit}, ${statusesWhere('released')}::text[]) as customer_id)`,
      )
      .with('instance', () => sql<AdmissionCtes['instance']>`(select 1 as one from admitted)`)
      .with('pool', () => sql<AdmissionCtes['pool']>`(${slotPoolSql([], 'skip-locked')})`)
      .with('bumped', () => sql<PoolRow>`(${slotBumpSql()})`);
    const written = await writeWithEventAnd<Database & AdmissionCtes, PoolAccess>(
      deps,
      deps.db,
      (db) =>
        db
          .insertInto('instances')
          .values({
            ...row,
            plan: db.selectFrom('plan').select('name'),
            cpu_limit: plan.cpuLimit ?? db.selectFrom('plan').select('cpu_limit'),
            memory_limit_mb: plan.memoryLimitMb ?? db.selectFrom('plan').select('memory_limit_mb'),
            storage_limit_bytes: db.selectFrom('plan').select('storage_limit_bytes'),
            // From admit_instance: the row cannot be written before the customer's check has run.
            customer_id: db.selectFrom('admitted').select('customer_id'),
            db_server_id: db.selectFrom('bumped').select('id'),
            db_allocation: db.selectFrom('bumped').select(sql<'reserved'>`'reserved'`.as('allocation')),
            db_reserved_until: db.selectFrom('bumped').select(sql<Date>`${lease}::timestamptz`.as('lease')),
          })
          .returningAll(),
      {
        from: null,
        to: null,
        trigger,
        message: sql<string>`${`created ${row.subdomain} (${row.status}) on plan `} || (select name from plan)`,
      },
      creator,
      // The pool the slot was taken on, for its DDL: read by the same statement, not by another round trip.
      sql<PoolAccess>`(select ${poolAccessJsonSql('bumped')} from bumped)`,
    );
    if (!written) throw new Error(`inserting instance ${row.subdomain} returned no row`);
    const { written: instance, extra: pool } = written;
    if (!pool) return { instance, inserted: true };
    return { instance, inserted: true, reservation: { instance: { id: instance.id, status: instance.status }, pool, lease } };
  } catch (error) {
    return refused(deps, row, limit, error);
  }
}

/** Why admit_instance or a unique index refused the row: the same request's instance, or a CONFLICT naming the field. */
async function refused(deps: Deps, row: Omit<NewInstanceRow, PlanLimit>, limit: number, error: unknown): Promise<Admission> {
  if (!(error instanceof pg.DatabaseError)) throw error;
  if (error.code === SUBDOMAIN_HELD) {
    const holder = await deps.db.selectFrom('instances').selectAll().where('id', '=', error.detail!).executeTakeFirst();
    if (holder?.customer_id === row.customer_id && holder.name === row.name) return { instance: holder, inserted: false };
    throw new DomainError('CONFLICT', `The subdomain ${row.subdomain} is already taken.`, 'input.subdomain');
  }
  if (error.code === AT_LIMIT) {
    throw new DomainError(
      'CONFLICT',
      `Customer ${row.customer_id} already has ${error.detail} live instances, the most allowed (MAX_INSTANCES_PER_CUSTOMER=${limit}).`,
      'input.customerId',
    );
  }
  // Both unique indexes hold for live instances only: a subdomain taken by another customer at once, or a
  // subscription that already has its instance.
  if (error.code !== '23505') throw error;
  if (error.constraint === 'instances_subscription_live') {
    throw new DomainError(
      'CONFLICT',
      `Subscription ${row.subscription_id} is already linked to a live instance: one subscription pays for one instance.`,
      'input.subscriptionId',
    );
  }
  throw new DomainError('CONFLICT', `The subdomain ${row.subdomain} is already taken.`, 'input.subdomain');
}
