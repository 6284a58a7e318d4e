import { sql, type RawBuilder } from 'kysely';
import type { PoolRow, PoolStatus } from './schema.js';

/** In service: counts decide between these two, and a slot taken or released moves between them. */
export const inService: readonly PoolStatus[] = ['active', 'full'];
export const isInService = (status: PoolStatus): boolean => inService.includes(status);

/** What reaching a pool's server takes: its address (and the one tenants use), its admin, and its status. */
export const poolAccessColumns = [
  'id',
  'name',
  'host',
  'port',
  'tenant_host',
  'tenant_port',
  'admin_user',
  'admin_password_encrypted',
  'status',
] as const satisfies readonly (keyof PoolRow)[];
export type PoolAccess = Pick<PoolRow, (typeof poolAccessColumns)[number]>;

/** A pool row's access columns as one JSON value (all strings and integers: nothing JSON would change the type of). */
export const poolAccessJsonSql = (table: string): RawBuilder<PoolAccess> =>
  sql`json_build_object(${sql.join(poolAccessColumns.map((column) => sql`${sql.lit(column)}::text, ${sql.ref(`${table}.${column}`)}`))})`;
