import { sql } from 'kysely';
import { z } from 'zod';
import type { InstanceRow, InstanceStatus } from '../../db/schema.js';
import { subscriptionOfCustomer } from '../subscriptions.js';
import type { Deps } from '../../deps.js';
import { DomainError, notFound, validationFailed } from '../../errors.js';
import { allocateInstance, newTenantSecret } from '../allocation/allocation.js';
import { admit } from '../allocation/admission.js';
import type { Trigger } from './instance-events.js';
import { isUuid } from '../names.js';
import { checkPageSize, pageOf, readTimeCursor, timeCursor, toMillisecond, type Page, type PageRequest } from '../pages.js';
import { isReservedSubdomain } from './reserved-names.js';
import { cpuCores, memorySize } from '../sizes.js';
import { loadFromBackup, usableBackup } from '../backups/restores.js';
import { parseInput } from '../validation.js';
import { offeredOdooVersions } from './odoo-spec.js';
import { ODOO_MIN_CPU, ODOO_MIN_MEMORY_MB } from '../../swarm/odoo-config.js';

export const createInstanceInput = z.object({
  customerId: z.string().uuid('must be a UUID'),
  name: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(100, 'must be at most 100 characters')
    .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters'),
  subdomain: z
    .string()
    .regex(
      /^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/,
      'must be 3-63 lower-case letters, digits or dashes, starting and ending with a letter or digit',
    ),
  // Checked against ODOO_IMAGES once parsed: the versions offered are the daemon's config.
  odooVersion: z.string().max(20, 'must be at most 20 characters'),
  adminEmail: z.string().email('must be an e-mail address').max(254, 'must be at most 254 characters'),
  subscriptionId: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,100}$/, 'must be 1-100 letters, digits or dashes')
    .nullish(),
  cpuLimit: cpuCores(ODOO_MIN_CPU, 64).nullish(),
  memoryLimit: memorySize(ODOO_MIN_MEMORY_MB, 256 * 1024).nullish(),
  fromBackupId: z.string().uuid('must be a backup id').nullish(),
});
export type CreateInstanceInput = z.input<typeof createInstanceInput>;

/**
 * Creates an instance and allocates its database at once. With no pool room it waits (WAITING_FOR_DATABASE)
 * for the scheduler. Repeating the same request (customer, name, subdomain) returns the same instance.
 * A subscription must be the customer's in Kill Bill; its planName decides the limits (admins may override them).
 * `staging` marks a staging copy (createStaging): neutralised before its first start, terminated once it expires.
 */
export async function createInstance(
  deps: Deps,
  rawInput: CreateInstanceInput,
  trigger: Trigger = { cause: 'createInstance', actor: 'admin' },
  staging: { of: string; expiresAt: Date } | null = null,
): Promise<InstanceRow> {
  const input = parseInput(createInstanceInput, rawInput);
  if (isReservedSubdomain(deps.config, input.subdomain)) throw validationFailed('input.subdomain', 'is reserved for the platform');
  const versions = offeredOdooVersions(deps.config);
  if (!versions.includes(input.odooVersion)) throw validationFailed('input.odooVersion', `must be one of: ${versions.join(', ')}`);
  // Derived while the lookups and the admission run, off the event loop.
  const secret = newTenantSecret();
  if (input.fromBackupId) await usableBackup(deps, input.fromBackupId, input.customerId);
  const subscriptionId = input.subscriptionId?.toLowerCase() ?? null;
  const subscription = subscriptionId ? await subscriptionOfCustomer(deps, subscriptionId, input.customerId) : null;
  const { instance, inserted, reservation } = await admit(
    deps,
    {
      customer_id: input.customerId,
      name: input.name,
      subdomain: input.subdomain,
      odoo_version: input.odooVersion,
      admin_email: input.adminEmail,
      subscription_id: subscriptionId,
      status: 'CREATING',
      ...(staging ? { staging_of: staging.of, staging_expires_at: staging.expiresAt } : {}),
    },
    { name: subscription?.planName, cpuLimit: input.cpuLimit, memoryLimitMb: input.memoryLimit },
    trigger,
  );
  if (inserted)
    deps.log.info(
      { event: 'instance.created', instanceId: instance.id, subdomain: instance.subdomain, plan: instance.plan },
      'instance created',
    );

  let allocated: InstanceRow | undefined;
  try {
    allocated = await allocateInstance(deps, instance.id, trigger, { reserved: reservation, secret, templates: !input.fromBackupId });
  } catch (error) {
    if (!(error instanceof DomainError && error.code === 'NO_POOL_CAPACITY')) throw error;
  }
  if (input.fromBackupId) await loadFromBackup(deps, instance.id, input.fromBackupId, trigger);
  return allocated && !input.fromBackupId ? allocated : getInstance(deps, instance.id);
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

export type InstancePage = Page<InstanceRow> & { totalCount: number };

/** Newest first, `first` at a time (1 to 200); `after` is the previous page's `endCursor`. */
export async function listInstances(deps: Pick<Deps, 'db'>, filter: InstanceFilter, request: PageRequest): Promise<InstancePage> {
  const first = checkPageSize(request.first, 200);
  if (filter.customerId && !isUuid(filter.customerId))
    throw new DomainError('VALIDATION_FAILED', 'customerId: must be a UUID', 'customerId');

  let query = deps.db.selectFrom('instances');
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.customerId) query = query.where('customer_id', '=', filter.customerId);

  let pageQuery = query.selectAll();
  if (request.after) {
    const cursor = readTimeCursor(request.after);
    pageQuery = pageQuery.where(sql<boolean>`(${toMillisecond('created_at')}, id) < (${cursor.at}, ${cursor.id}::uuid)`);
  }
  const [rows, count] = await Promise.all([
    pageQuery
      .orderBy(toMillisecond('created_at'), 'desc')
      .orderBy('id', 'desc')
      .limit(first + 1)
      .execute(),
    query.select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow(),
  ]);
  return { ...pageOf(rows, request, (row) => timeCursor(row.created_at, row.id)), totalCount: Number(count.count) };
}
