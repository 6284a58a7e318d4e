import { sql, type RawBuilder } from 'kysely';
import { DomainError } from '../errors.js';
import { isUuid } from './names.js';

/** A page of a list, in the Relay connection shape the GraphQL schema serves. */
export interface Page<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

export interface PageRequest {
  first: number;
  /** The `endCursor` of the page before, if any. */
  after?: string | null;
}

/** `first` as a page size: a whole number from 1 to `max`. */
export function checkPageSize(first: number, max: number, field = 'first'): number {
  if (!Number.isInteger(first) || first < 1 || first > max)
    throw new DomainError('VALIDATION_FAILED', `${field}: must be between 1 and ${max}`, field);
  return first;
}

/**
 * The page from rows read with `limit first + 1`: the extra row only says that more follow. A page asked for after
 * a cursor follows the rows up to that cursor, so it has a previous page.
 */
export function pageOf<T>(rows: T[], request: PageRequest, cursorOf: (row: T) => string): Page<T> {
  const edges = rows.slice(0, request.first).map((node) => ({ cursor: cursorOf(node), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: rows.length > request.first,
      hasPreviousPage: Boolean(request.after),
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}

const notACursor = (field: string) => new DomainError('VALIDATION_FAILED', `${field}: is not a cursor this API returned`, field);

/** A cursor for lists ordered by (timestamp, UUID): opaque to callers, so the order's columns can change. */
export const timeCursor = (at: Date, id: string): string => Buffer.from(`${at.toISOString()}|${id}`).toString('base64url');

/**
 * A timestamp column as a cursor holds it, to the millisecond (PostgreSQL keeps microseconds, a JavaScript Date
 * milliseconds): lists ordered by time order and compare on this, so no row in a cursor's millisecond is skipped.
 */
export const toMillisecond = (column: string): RawBuilder<Date> => sql<Date>`date_trunc('milliseconds', ${sql.ref(column)})`;

export function readTimeCursor(cursor: string, field = 'after'): { at: Date; id: string } {
  const [at, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const date = new Date(at ?? '');
  if (rest.length > 0 || !id || !isUuid(id) || Number.isNaN(date.getTime())) throw notACursor(field);
  return { at: date, id };
}

const maxBigint = 2n ** 63n - 1n;

/** A cursor for lists ordered by a serial id. */
export const serialCursor = (id: string): string => Buffer.from(`#${id}`).toString('base64url');

export function readSerialCursor(cursor: string, field = 'after'): string {
  const match = /^#(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match || BigInt(match[1]!) > maxBigint) throw notACursor(field);
  return match[1]!;
}
