import { sql } from 'kysely';
import type { InstanceRow, InstanceUsageRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { readDirAttributes, type DirAttributes } from '../../storage/cephfs.js';
import { instanceDataDir } from '../../storage/layout.js';
import { instanceBackupsDir } from '../../swarm/backup-job.js';
import { withTransaction } from '../../db/transaction.js';
import { recordEvent, scheduler } from './instance-events.js';
import { lockInstance } from './instance-lock.js';
import { allows, statusesWhere } from './instance-policy.js';
import { suspendInstance } from './lifecycle.js';
import { tenantDatabaseName } from '../names.js';
import { applyQuota, storageLimitOf } from './tenant-storage.js';

export interface Measurement {
  filestore: number | null;
  database: number | null;
  backups: number | null;
}

type Tenant = Pick<InstanceRow, 'id' | 'status' | 'db_server_id' | 'storage_limit_bytes'> & {
  over_limit_since: Date | null;
  /** The last measurement's, for a part that cannot be measured now. */
  filestore_bytes: string | null;
  database_bytes: string | null;
};

const bytes = (value: string | null) => (value === null ? null : Number(value));

/** Pure: whether what the tenant stores (filestore and database; backups do not count) exceeds its limit. */
export function isOverLimit(limit: number | null, usage: Measurement): boolean {
  if (limit === null || (usage.filestore === null && usage.database === null)) return false;
  return (usage.filestore ?? 0) + (usage.database ?? 0) > limit;
}

/** The size of each tenant database on each pool: one query per pool. A pool that does not answer gives nothing. */
async function databaseSizes(deps: Deps, tenants: Tenant[]): Promise<Map<string, number>> {
  const byPool = new Map<string, string[]>();
  for (const tenant of tenants) {
    if (tenant.db_server_id) byPool.set(tenant.db_server_id, [...(byPool.get(tenant.db_server_id) ?? []), tenant.id]);
  }
  const sizes = new Map<string, number>();
  if (byPool.size === 0) return sizes;
  const pools = await deps.db
    .selectFrom('db_servers')
    .selectAll()
    .where('id', 'in', [...byPool.keys()])
    .execute();
  await Promise.all(
    pools.map(async (pool) => {
      const ids = byPool.get(pool.id) ?? [];
      const names = new Map(ids.map((id) => [tenantDatabaseName(id), id]));
      try {
        const result = await deps.poolConnections.use(pool, (client) =>
          client.query<{ datname: string; bytes: string }>(
            'select datname, pg_database_size(oid) as bytes from pg_database where datname = any($1)',
            [[...names.keys()]],
          ),
        );
        for (const row of result.rows) sizes.set(names.get(row.datname)!, Number(row.bytes));
      } catch (error) {
        deps.log.warn(
          { event: 'storage.database_size_failed', poolId: pool.id, reason: (error as Error).message },
          'database sizes not read',
        );
      }
    }),
  );
  return sizes;
}

/** rbytes of the tenants' data dirs and backup dirs (CephFS only, and only while storage answers). */
async function directoryAttributes(deps: Deps, tenants: Tenant[]): Promise<Map<string, DirAttributes> | null> {
  const { storage } = deps;
  if (storage.mode !== 'ceph' || storage.health().status !== 'ok') return null;
  const dirs = tenants.flatMap((tenant) => [instanceDataDir(storage.root, tenant.id), instanceBackupsDir(storage.root, tenant.id)]);
  try {
    return await readDirAttributes(dirs, deps.config.storage.checkTimeoutMs * 3);
  } catch (error) {
    deps.log.warn({ event: 'storage.usage_failed', reason: (error as Error).message }, 'filestore usage not read');
    return null;
  }
}

/**
 * The leader's usage tick: measures every tenant's filestore and backups (CephFS's rbytes: no walk of the files) and
 * its database (pg_database_size, one query per pool), records it, puts back a quota that drifted from the limit (a
 * restore cut short), and applies the limit: a tenant that goes over gets an event, shows in
 * orchestrator_tenant_storage_over_limit, and is suspended when STORAGE_OVER_LIMIT=suspend.
 */
export async function measureStorageUsage(deps: Deps): Promise<void> {
  const tenants: Tenant[] = await deps.db
    .selectFrom('instances')
    .leftJoin('instance_usage', 'instance_usage.instance_id', 'instances.id')
    .select([
      'instances.id',
      'instances.status',
      'instances.db_server_id',
      'instances.storage_limit_bytes',
      'instance_usage.over_limit_since',
      'instance_usage.filestore_bytes',
      'instance_usage.database_bytes',
    ])
    .where('instances.status', 'in', statusesWhere('storageMeasured'))
    .execute();
  if (tenants.length === 0) return;
  const [sizes, attributes] = await Promise.all([databaseSizes(deps, tenants), directoryAttributes(deps, tenants)]);
  const rows = tenants.map((tenant) => {
    const files = attributes?.get(instanceDataDir(deps.storage.root, tenant.id));
    const backups = attributes?.get(instanceBackupsDir(deps.storage.root, tenant.id));
    const usage: Measurement = {
      filestore: files?.rbytes ?? null,
      database: sizes.get(tenant.id) ?? null,
      backups: attributes ? (backups?.rbytes ?? 0) : null,
    };
    // Judged on what is known: a part not measured now (a pool or storage away) counts with its last value.
    const known = {
      ...usage,
      filestore: usage.filestore ?? bytes(tenant.filestore_bytes),
      database: usage.database ?? bytes(tenant.database_bytes),
    };
    return { tenant, files, usage, known, over: isOverLimit(storageLimitOf(tenant), known) };
  });
  await deps.db
    .insertInto('instance_usage')
    .values(
      rows.map(({ tenant, usage, over }) => ({
        instance_id: tenant.id,
        filestore_bytes: usage.filestore,
        database_bytes: usage.database,
        backup_bytes: usage.backups,
        over_limit_since: over ? (tenant.over_limit_since ?? new Date()) : null,
      })),
    )
    .onConflict((oc) =>
      oc.column('instance_id').doUpdateSet({
        // A part that could not be measured this time keeps its last value.
        filestore_bytes: sql`coalesce(excluded.filestore_bytes, instance_usage.filestore_bytes)`,
        database_bytes: sql`coalesce(excluded.database_bytes, instance_usage.database_bytes)`,
        backup_bytes: sql`coalesce(excluded.backup_bytes, instance_usage.backup_bytes)`,
        measured_at: sql`now()`,
        over_limit_since: sql`excluded.over_limit_since`,
      }),
    )
    .execute();
  for (const { tenant, files, known, over } of rows) {
    if (files && tenant.status !== 'RESTORING' && files.quota !== storageLimitOf(tenant)) await putQuotaBack(deps, tenant, files.quota);
    if (over !== (tenant.over_limit_since !== null)) await limitCrossed(deps, tenant, known, over);
  }
}

/** Under the instance's lock, so a plan change that set a new quota meanwhile is read, not undone. */
async function putQuotaBack(deps: Deps, tenant: Tenant, found: number | null): Promise<void> {
  await withTransaction(deps.db, async (trx) => {
    const instance = await lockInstance(trx, tenant.id);
    const limit = storageLimitOf(instance);
    if (instance.status === 'RESTORING' || limit === found) return;
    deps.log.info({ event: 'storage.quota_restored', instanceId: tenant.id, found, limit }, 'quota set back to the limit');
    await applyQuota(deps, instance);
  }).catch((error: Error) =>
    deps.log.warn({ event: 'storage.quota_failed', instanceId: tenant.id, reason: error.message }, 'quota not set back'),
  );
}

/** A tenant went over its limit, or back within it: an event either way, and the configured action when it goes over. */
async function limitCrossed(deps: Deps, tenant: Tenant, usage: Measurement, over: boolean): Promise<void> {
  const limit = storageLimitOf(tenant);
  const trigger = scheduler('storage-limit');
  const stored = (usage.filestore ?? 0) + (usage.database ?? 0);
  if (!over) {
    await recordEvent(deps, deps.db, tenant.id, trigger, `storage back within its limit: ${stored} of ${limit} bytes`);
    deps.log.info({ event: 'storage.within_limit', instanceId: tenant.id, bytes: stored, limit }, 'tenant storage back within its limit');
    return;
  }
  const action = deps.config.storage.overLimit;
  await recordEvent(
    deps,
    deps.db,
    tenant.id,
    trigger,
    `storage over its limit: ${stored} of ${limit} bytes (filestore ${usage.filestore ?? '?'}, database ${usage.database ?? '?'})` +
      (action === 'suspend' ? '; suspended' : ''),
  );
  deps.log.warn(
    { event: 'storage.over_limit', instanceId: tenant.id, bytes: stored, limit, usage, action },
    'tenant storage over its limit',
  );
  if (action === 'suspend' && allows('suspendedOverStorage', tenant.status)) {
    await suspendInstance(deps, tenant.id, trigger).catch((error: Error) =>
      deps.log.warn({ event: 'storage.suspend_failed', instanceId: tenant.id, reason: error.message }, 'over-limit tenant not suspended'),
    );
  }
}

/** The last measurement of each instance, in the order asked (null: not measured yet). */
export async function usageOf(deps: Pick<Deps, 'db'>, instanceIds: readonly string[]): Promise<(InstanceUsageRow | null)[]> {
  const rows = await deps.db
    .selectFrom('instance_usage')
    .selectAll()
    .where('instance_id', 'in', [...instanceIds])
    .execute();
  const byId = new Map(rows.map((row) => [row.instance_id, row]));
  return instanceIds.map((id) => byId.get(id) ?? null);
}
