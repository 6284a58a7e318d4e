import { sql } from 'kysely';
import { z } from 'zod';
import type { InstanceRow, InstanceStatus } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { DomainError, notFound } from '../errors.js';
import { allocateDatabase } from './allocation.js';
import { recordEvent, type Trigger } from './instance-events.js';
import { isUuid } from './names.js';
import { cpuCores, memorySize } from './sizes.js';
import { loadFromBackup, usableBackup } from './restores.js';
import { parseInput } from './validation.js';

const reservedSubdomains = new Set(['www', 'api', 'admin', 'app', 'mail', 'smtp', 'imap', 'ftp', 'traefik', 'grafana', 'status']);

const supportedOdooVersions = ['17.0'];

export const createInstanceInput = z.object({
  customerId: z.string().uuid('must be a UUID'),
  name: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(100, 'must be at most 100 characters')
    .regex(/^[^\p{Cc}]+$/u, 'must not contain control characters'),
  subdomain: z
    .string()
    .regex(
      /^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/,
      'must be 3-63 lower-case letters, digits or dashes, starting and ending with a letter or digit',
    )
    .refine((value) => !reservedSubdomains.has(value), 'is reserved'),
  odooVersion: z.string().refine((value) => supportedOdooVersions.includes(value), `must be one of: ${supportedOdooVersions.join(', ')}`),
  adminEmail: z.string().email('must be an e-mail address').max(254, 'must be at most 254 characters'),
  subscriptionId: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,100}$/, 'must be 1-100 letters, digits or dashes')
    .nullish(),
  cpuLimit: cpuCores(0.1, 64).nullish(),
  memoryLimit: memorySize(256, 256 * 1024).nullish(),
  fromBackupId: z.string().uuid('must be a backup id').nullish(),
});
export type CreateInstanceInput = z.input<typeof createInstanceInput>;

const DEFAULT_CPU_LIMIT = 1;
const DEFAULT_MEMORY_MB = 1024;

/**
 * Creates an instance and allocates its database at once. With no pool room it waits (WAITING_FOR_DATABASE)
 * for the scheduler. Repeating the same request (customer, name, subdomain) returns the same instance.
 */
export async function createInstance(
  deps: Deps,
  rawInput: CreateInstanceInput,
  trigger: Trigger = { cause: 'createInstance', actor: 'admin' },
): Promise<InstanceRow> {
  const input = parseInput(createInstanceInput, rawInput);
  if (input.fromBackupId) await usableBackup(deps, input.fromBackupId, input.customerId);
  const inserted = await deps.db
    .insertInto('instances')
    .values({
      customer_id: input.customerId,
      name: input.name,
      subdomain: input.subdomain,
      odoo_version: input.odooVersion,
      admin_email: input.adminEmail,
      subscription_id: input.subscriptionId ?? null,
      cpu_limit: input.cpuLimit ?? DEFAULT_CPU_LIMIT,
      memory_limit_mb: input.memoryLimit ?? DEFAULT_MEMORY_MB,
      status: 'CREATING',
    })
    .onConflict((oc) => oc.column('subdomain').where('status', '<>', 'TERMINATED').doNothing())
    .returningAll()
    .executeTakeFirst();

  const instance = inserted ?? (await sameRequestOrConflict(deps, input));
  if (inserted) {
    await recordEvent(deps, deps.db, instance.id, trigger, `created ${instance.subdomain} (${instance.status})`);
    deps.log.info({ event: 'instance.created', instanceId: instance.id, subdomain: instance.subdomain }, 'instance created');
  }

  try {
    await allocateDatabase(deps, instance.id, trigger);
  } catch (error) {
    if (!(error instanceof DomainError && error.code === 'NO_POOL_CAPACITY')) throw error;
  }
  if (input.fromBackupId) await loadFromBackup(deps, instance.id, input.fromBackupId, trigger);
  return getInstance(deps, instance.id);
}

async function sameRequestOrConflict(deps: Deps, input: z.output<typeof createInstanceInput>): Promise<InstanceRow> {
  const holder = await deps.db
    .selectFrom('instances')
    .selectAll()
    .where('subdomain', '=', input.subdomain)
    .where('status', '<>', 'TERMINATED')
    .executeTakeFirst();
  if (holder && holder.customer_id === input.customerId && holder.name === input.name) return holder;
  throw new DomainError('CONFLICT', `The subdomain ${input.subdomain} is already taken.`, 'input.subdomain');
}

export async function getInstance(deps: Pick<Deps, 'db'>, id: string): Promise<InstanceRow> {
  const instance = isUuid(id) ? await deps.db.selectFrom('instances').selectAll().where('id', '=', id).executeTakeFirst() : undefined;
  if (!instance) throw notFound('Instance', id);
  return instance;
}

export interface InstanceFilter {
  status?: InstanceStatus | null;
  customerId?: string | null;
}

export interface InstancePage {
  nodes: InstanceRow[];
  totalCount: number;
  endCursor: string | null;
  hasNextPage: boolean;
}

const encodeCursor = (row: InstanceRow) => Buffer.from(`${row.created_at.toISOString()}|${row.id}`).toString('base64url');

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [createdAt, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const date = new Date(createdAt ?? '');
  if (!id || !isUuid(id) || Number.isNaN(date.getTime())) throw new DomainError('VALIDATION_FAILED', 'after: is not a cursor this API returned', 'after');
  return { createdAt: date, id };
}

/** Newest first, `first` at a time; `after` is the previous page's `endCursor`. */
export async function listInstances(deps: Pick<Deps, 'db'>, filter: InstanceFilter, first: number, after?: string | null): Promise<InstancePage> {
  if (!Number.isInteger(first) || first < 1 || first > 200) throw new DomainError('VALIDATION_FAILED', 'first: must be between 1 and 200', 'first');
  if (filter.customerId && !isUuid(filter.customerId)) throw new DomainError('VALIDATION_FAILED', 'customerId: must be a UUID', 'customerId');

  let query = deps.db.selectFrom('instances');
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.customerId) query = query.where('customer_id', '=', filter.customerId);

  let pageQuery = query.selectAll();
  if (after) {
    const cursor = decodeCursor(after);
    pageQuery = pageQuery.where(sql<boolean>`(created_at, id) < (${cursor.createdAt}, ${cursor.id}::uuid)`);
  }
  const [rows, count] = await Promise.all([
    pageQuery.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(first + 1).execute(),
    query.select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow(),
  ]);
  const nodes = rows.slice(0, first);
  const last = nodes.at(-1);
  return { nodes, totalCount: Number(count.count), endCursor: last ? encodeCursor(last) : null, hasNextPage: rows.length > first };
}
