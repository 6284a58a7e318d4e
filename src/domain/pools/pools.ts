import { z } from 'zod';
import { sealSecret, unsealSecret } from '../../crypto/secret-box.js';
import type { PoolRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { DomainError, notFound } from '../../errors.js';
import { isUuid } from '../names.js';
import { assertCanHostTenants, withPoolAdmin, type PoolAdminAccess } from '../../db/pool-server.js';
import type { Executor } from '../../db/transaction.js';
import { addRegisteredPool } from './pool-state.js';
import { parseInput } from '../validation.js';

const hostOrIp = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export const registerPoolInput = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 lower-case letters, digits or dashes, starting with a letter or digit'),
  host: z.string().regex(hostOrIp, 'must be a host name or an IPv4 address'),
  port: z.number().int().min(1, 'must be between 1 and 65535').max(65535, 'must be between 1 and 65535').default(5432),
  adminUser: z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]{0,62}$/, 'must be a PostgreSQL role name (letters, digits, _; at most 63)'),
  adminPassword: z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters'),
  maxInstances: z.number().int().min(1, 'must be at least 1').max(10_000, 'must be at most 10000'),
  priority: z.number().int().min(0, 'must be between 0 and 1000').max(1000, 'must be between 0 and 1000').default(100),
});
export type RegisterPoolInput = z.input<typeof registerPoolInput>;

export function poolAdminAccess(pool: PoolRow, masterKey: Buffer): PoolAdminAccess {
  return {
    host: pool.host,
    port: pool.port,
    adminUser: pool.admin_user,
    adminPassword: unsealSecret(pool.admin_password_encrypted, masterKey),
  };
}

/**
 * Registers an existing PostgreSQL server as a pool, after proving the admin can log in and create tenants.
 * Registering the same name, host and port again returns the pool as it is.
 */
export async function registerPool(deps: Deps, rawInput: RegisterPoolInput): Promise<PoolRow> {
  const input = parseInput(registerPoolInput, rawInput);
  const existing = await deps.db.selectFrom('db_servers').selectAll().where('name', '=', input.name).executeTakeFirst();
  if (existing) {
    if (existing.host === input.host && existing.port === input.port && existing.admin_user === input.adminUser) return existing;
    throw new DomainError('CONFLICT', `A pool named ${input.name} already exists with another address.`, 'input.name');
  }

  try {
    await withPoolAdmin(input, assertCanHostTenants);
  } catch (error) {
    throw new DomainError(
      'VALIDATION_FAILED',
      `input.host: cannot use ${input.adminUser}@${input.host}:${input.port} as pool admin (${(error as Error).message})`,
      'input.host',
    );
  }

  const inserted = await addRegisteredPool(deps.db, {
    name: input.name,
    host: input.host,
    port: input.port,
    max_instances: input.maxInstances,
    priority: input.priority,
    admin_user: input.adminUser,
    admin_password_encrypted: sealSecret(input.adminPassword, deps.config.masterKey),
  });
  if (inserted) {
    deps.log.info({ event: 'pool.registered', poolId: inserted.id, pool: inserted.name }, 'pool registered');
    return inserted;
  }
  return registerPool(deps, rawInput);
}

export async function getPool(deps: Pick<Deps, 'db'>, id: string): Promise<PoolRow> {
  const pool = isUuid(id) ? await deps.db.selectFrom('db_servers').selectAll().where('id', '=', id).executeTakeFirst() : undefined;
  if (!pool) throw notFound('Pool', id);
  return pool;
}

/** The pool the instance's database is on; asking for it before allocation is a caller's mistake. */
export async function poolOfInstance(executor: Executor, instance: { id: string; db_server_id: string | null }): Promise<PoolRow> {
  if (!instance.db_server_id) throw new Error(`instance ${instance.id} has no database`);
  return executor.selectFrom('db_servers').selectAll().where('id', '=', instance.db_server_id).executeTakeFirstOrThrow();
}

export async function listPools(deps: Pick<Deps, 'db'>): Promise<PoolRow[]> {
  return deps.db.selectFrom('db_servers').selectAll().orderBy('priority').orderBy('name').execute();
}
