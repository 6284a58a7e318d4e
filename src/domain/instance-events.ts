import type { Kysely, Transaction } from 'kysely';
import { sql } from 'kysely';
import type { Database, InstanceEventRow, InstanceRow, InstanceStatus, InstanceUpdate } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { afterCommit } from '../db/transaction.js';
import { canTransition } from './instance-status.js';
import { checkPageSize, pageOf, readSerialCursor, serialCursor, type Page, type PageRequest } from './pages.js';

/** Who or what caused a change: `cause` names the action, `actor` the caller (admin, customer:<id>, scheduler, killbill). */
export interface Trigger {
  cause: string;
  actor: string;
}

export const scheduler = (cause: string): Trigger => ({ cause, actor: 'scheduler' });

export type Executor = Kysely<Database> | Transaction<Database>;

async function insertEvent(
  executor: Executor,
  instanceId: string,
  from: InstanceStatus | null,
  to: InstanceStatus | null,
  trigger: Trigger,
  message: string | null,
): Promise<InstanceEventRow> {
  return executor
    .insertInto('instance_events')
    .values({ instance_id: instanceId, from_status: from, to_status: to, cause: trigger.cause, actor: trigger.actor, message })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Records something that happened to an instance without changing its status (a trigger, a failure). */
export async function recordEvent(deps: Pick<Deps, 'events'>, executor: Executor, instanceId: string, trigger: Trigger, message: string | null = null) {
  const event = await insertEvent(executor, instanceId, null, null, trigger, message);
  afterCommit(executor, () => deps.events.publish(instanceId, event));
  return event;
}

/**
 * Moves the instance from the status it was read in to `to`, with `patch`, and records the transition: written
 * once, since the update only applies while the row still holds the status it was read in. Returns the new row,
 * or undefined when something else moved the instance first.
 */
export async function moveInstance(
  deps: Pick<Deps, 'events'>,
  executor: Executor,
  instance: Pick<InstanceRow, 'id' | 'status'>,
  to: InstanceStatus,
  trigger: Trigger,
  options: { patch?: InstanceUpdate; message?: string | null } = {},
): Promise<InstanceRow | undefined> {
  if (!canTransition(instance.status, to)) throw new Error(`illegal transition ${instance.status} -> ${to}`);
  const write = async (trx: Executor) => {
    const moved = await trx
      .updateTable('instances')
      .set({ ...options.patch, status: to, status_changed_at: sql`now()`, updated_at: sql`now()` })
      .where('id', '=', instance.id)
      .where('status', '=', instance.status)
      .returningAll()
      .executeTakeFirst();
    const event = moved ? await insertEvent(trx, instance.id, instance.status, to, trigger, options.message ?? null) : undefined;
    return { moved, event };
  };
  const { moved, event } = executor.isTransaction ? await write(executor) : await executor.transaction().execute(write);
  if (event) afterCommit(executor, () => deps.events.publish(instance.id, event));
  return moved;
}

/**
 * The events of each instance, oldest first, a page of `first` (1 to 1000) each, in one query however many
 * instances: for each instance, its next `first + 1` events by the (instance_id, id) index.
 */
export async function pagesOfInstanceEvents(deps: Pick<Deps, 'db'>, instanceIds: readonly string[], request: PageRequest): Promise<Page<InstanceEventRow>[]> {
  const first = checkPageSize(request.first, 1000);
  const afterId = request.after ? readSerialCursor(request.after) : null;
  const rows =
    instanceIds.length === 0
      ? []
      : await deps.db
          .selectFrom('instances')
          .where('instances.id', 'in', instanceIds)
          .innerJoinLateral(
            (eb) => {
              let events = eb.selectFrom('instance_events').selectAll().whereRef('instance_events.instance_id', '=', 'instances.id');
              if (afterId) events = events.where('instance_events.id', '>', afterId);
              return events.orderBy('instance_events.id').limit(first + 1).as('event');
            },
            (join) => join.onTrue(),
          )
          .selectAll('event')
          .orderBy('event.id')
          .execute();
  const byInstance = new Map<string, InstanceEventRow[]>();
  for (const row of rows) {
    const events = byInstance.get(row.instance_id);
    if (events) events.push(row);
    else byInstance.set(row.instance_id, [row]);
  }
  return instanceIds.map((id) => pageOf(byInstance.get(id) ?? [], request, (row) => serialCursor(row.id)));
}
