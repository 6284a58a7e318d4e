import type { ExpressionOrFactory, InsertQueryBuilder, QueryCreator, RawBuilder, SqlBool, UpdateObject, UpdateQueryBuilder } from 'kysely';
import { sql } from 'kysely';
import type { Database, InstanceEventRow, InstanceRow, InstanceStatus } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { afterCommit, type Executor } from '../../db/transaction.js';
import { canMove, instanceMoves, type InstanceMove } from './instance-status.js';
import { checkPageSize, pageOf, readSerialCursor, serialCursor, type Page, type PageRequest } from '../pages.js';

/** Who or what caused a change: `cause` names the action, `actor` the caller (admin, customer:<id>, scheduler, killbill). */
export interface Trigger {
  cause: string;
  actor: string;
}

export const scheduler = (cause: string): Trigger => ({ cause, actor: 'scheduler' });

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
export async function recordEvent(
  deps: Pick<Deps, 'events'>,
  executor: Executor,
  instanceId: string,
  trigger: Trigger,
  message: string | null = null,
) {
  const event = await insertEvent(executor, instanceId, null, null, trigger, message);
  afterCommit(executor, () => deps.events.publish(instanceId, event));
  return event;
}

/** An event's values but its instance id, for an INSERT ... SELECT from the rows a statement writes. */
const eventSelection = (
  from: InstanceStatus | null,
  to: InstanceStatus | null,
  trigger: Trigger,
  message: string | RawBuilder<string> | null,
) => [
  sql<InstanceStatus | null>`${from}::varchar`.as('from_status'),
  sql<InstanceStatus | null>`${to}::varchar`.as('to_status'),
  sql<string>`${trigger.cause}::varchar`.as('cause'),
  sql<string>`${trigger.actor}::varchar`.as('actor'),
  sql<string | null>`${message}::text`.as('message'),
];

const eventColumns = ['instance_id', 'from_status', 'to_status', 'cause', 'actor', 'message'] as const;

/** A statement's write of one instance row (an insert or an update), returning the row; `DB` holds earlier CTEs. */
export type InstanceWrite<DB extends Database = Database> = (
  db: QueryCreator<DB>,
) => InsertQueryBuilder<DB, 'instances', InstanceRow> | UpdateQueryBuilder<DB, 'instances', 'instances', InstanceRow>;

/**
 * The instance row `write` writes and its event, in one statement (atomic in or out of a transaction, one round
 * trip); the event is published once `executor` commits. Undefined when `write` wrote no row. `creator`, when given,
 * is `executor` with CTEs the write (and a message given as SQL) reads.
 */
export async function writeWithEvent<DB extends Database = Database>(
  deps: Pick<Deps, 'events'>,
  executor: Executor,
  write: InstanceWrite<DB>,
  event: InstanceEventWritten,
  creator: QueryCreator<DB> = executor as unknown as QueryCreator<DB>,
): Promise<InstanceRow | undefined> {
  return (await writeWithEventAnd(deps, executor, write, event, creator, null))?.written;
}

/** The event recorded with a write: the move it makes, who caused it, and a message (or SQL that makes it). */
export interface InstanceEventWritten {
  from: InstanceStatus | null;
  to: InstanceStatus | null;
  trigger: Trigger;
  message: string | RawBuilder<string> | null;
}

/** `writeWithEvent`, reading `extra` (SQL over the statement's CTEs, such as a row another CTE wrote) in the same statement. */
export async function writeWithEventAnd<DB extends Database, Extra>(
  deps: Pick<Deps, 'events'>,
  executor: Executor,
  write: InstanceWrite<DB>,
  event: InstanceEventWritten,
  creator: QueryCreator<DB>,
  extra: RawBuilder<Extra> | null,
): Promise<{ written: InstanceRow; extra: Extra | null } | undefined> {
  const { from, to, trigger, message } = event;
  const row = await (creator as unknown as QueryCreator<Database>)
    .with('written', write as unknown as InstanceWrite)
    .with('event', (db) =>
      db
        .insertInto('instance_events')
        .columns(eventColumns)
        .expression((eb) => eb.selectFrom('written').select(['written.id', ...eventSelection(from, to, trigger, message)]))
        .returning(['id as event_id', 'created_at as event_created_at', 'message as event_message']),
    )
    .selectFrom('written')
    .innerJoin('event', (join) => join.onTrue())
    .selectAll('written')
    .select(['event.event_id', 'event.event_created_at', 'event.event_message'])
    .$if(extra !== null, (query) => query.select(extra!.as('extra')))
    .executeTakeFirst();
  if (!row) return undefined;
  const { event_id, event_created_at, event_message, extra: extraRead, ...written } = row;
  const published = {
    instance_id: written.id,
    from_status: from,
    to_status: to,
    cause: trigger.cause,
    actor: trigger.actor,
    message: event_message,
    id: event_id,
    created_at: event_created_at,
  };
  afterCommit(executor, () => deps.events.publish(written.id, published));
  return { written, extra: (extraRead as Extra | undefined) ?? null };
}

/** What a write sets on an instance row besides its status (values, or SQL such as `conditionsWith`). */
export type InstancePatch = Omit<UpdateObject<Database, 'instances'>, 'status' | 'status_changed_at'>;

/**
 * Makes `move` (`instanceMoves`): moves the instance from the status it was read in to the move's, with `patch`, and
 * records the transition: written once, since the update only applies while the row still holds the status it was
 * read in (and `onlyIf`, when given). One statement writes both, so it is atomic in or out of a transaction. Returns
 * the new row, or undefined when something else moved the instance first. A move from a status it does not leave
 * throws.
 */
export async function moveInstance(
  deps: Pick<Deps, 'events'>,
  executor: Executor,
  instance: Pick<InstanceRow, 'id' | 'status'>,
  move: InstanceMove,
  trigger: Trigger,
  options: { patch?: InstancePatch; message?: string | null; onlyIf?: ExpressionOrFactory<Database, 'instances', SqlBool> } = {},
): Promise<InstanceRow | undefined> {
  if (!canMove(move, instance.status)) throw new Error(`illegal move ${move} from ${instance.status}`);
  const to = instanceMoves[move].to;
  return writeWithEvent(
    deps,
    executor,
    (db) => {
      const update = db
        .updateTable('instances')
        .set({ ...options.patch, status: to, status_changed_at: sql`now()`, updated_at: sql`now()` })
        .where('id', '=', instance.id)
        .where('status', '=', instance.status);
      return (options.onlyIf ? update.where(options.onlyIf) : update).returningAll();
    },
    { from: instance.status, to, trigger, message: options.message ?? null },
  );
}

/**
 * Writes `patch` (never the status: that is `moveInstance`'s) to the instance, and `updated_at`, while it still holds
 * `onlyIf` (when given); with `event`, records it in the same statement. Every write of an instance row goes through
 * here, `moveInstance` or `writeWithEvent` (a statement of several writes): `npm run lint` refuses one elsewhere.
 * Returns the new row, or undefined when nothing was written.
 */
export async function patchInstance(
  deps: Pick<Deps, 'events'>,
  executor: Executor,
  instanceId: string,
  patch: InstancePatch,
  options: { onlyIf?: ExpressionOrFactory<Database, 'instances', SqlBool>; event?: { trigger: Trigger; message: string | null } } = {},
): Promise<InstanceRow | undefined> {
  const write = (db: QueryCreator<Database>) => {
    const update = db
      .updateTable('instances')
      .set({ ...patch, updated_at: sql`now()` })
      .where('id', '=', instanceId);
    return (options.onlyIf ? update.where(options.onlyIf) : update).returningAll();
  };
  if (!options.event) return write(executor).executeTakeFirst();
  return writeWithEvent(deps, executor, write, { from: null, to: null, ...options.event });
}

/**
 * The events of each instance, oldest first, a page of `first` (1 to 1000) each, in one query however many
 * instances: for each instance, its next `first + 1` events by the (instance_id, id) index.
 */
export async function pagesOfInstanceEvents(
  deps: Pick<Deps, 'db'>,
  instanceIds: readonly string[],
  request: PageRequest,
): Promise<Page<InstanceEventRow>[]> {
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
              return events
                .orderBy('instance_events.id')
                .limit(first + 1)
                .as('event');
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
