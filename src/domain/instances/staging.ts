import { setTimeout as sleep } from 'node:timers/promises';
import type { BackupRow, InstanceRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { DomainError } from '../../errors.js';
import { advanceBackup, backupInstance, getBackup } from '../backups/backups.js';
import { patchInstance, recordEvent, type Trigger } from './instance-events.js';
import { allows, statusesWhere } from './instance-policy.js';
import { createInstance, getInstance } from './instances.js';
import { provisionInstance } from './provisioning.js';

const expiry = (deps: Pick<Deps, 'config'>, from = Date.now()) => new Date(from + deps.config.stagingTtlDays * 86_400_000);

/** The source's backup, advanced until it completed (or failed, or the backups' job deadline passed). */
async function completedBackup(deps: Deps, backup: BackupRow): Promise<BackupRow> {
  const deadline = Date.now() + deps.config.backups.jobDeadlineSeconds * 1000;
  let current = backup;
  while (current.status !== 'COMPLETED') {
    if (current.status === 'FAILED') throw new DomainError('CONFLICT', `The backup of the source failed: ${current.error}`);
    if (Date.now() > deadline) throw new DomainError('CONFLICT', `The backup of the source (${current.id}) did not finish in time.`);
    await sleep(500);
    current = await advanceBackup(deps, await getBackup(deps, current.id));
  }
  return current;
}

/**
 * A staging copy of an instance: a new instance of the same owner (counted in their limits), loaded from a fresh
 * backup of the source, with its own uuid, secret and base URL, neutralised by `odoo neutralize` and checked before
 * its first start (a copy that fails the check is never started), terminated after STAGING_TTL_DAYS unless renewed.
 * Asking again for the same copy (source, name, subdomain) returns it.
 */
export async function createStaging(
  deps: Deps,
  sourceId: string,
  input: { name: string; subdomain: string },
  trigger: Trigger,
): Promise<InstanceRow> {
  const source = await getInstance(deps, sourceId);
  const earlier = await deps.db
    .selectFrom('instances')
    .selectAll()
    .where('staging_of', '=', source.id)
    .where('subdomain', '=', input.subdomain)
    .where('name', '=', input.name)
    .where('status', 'not in', statusesWhere('ended'))
    .executeTakeFirst();
  // Asked again after the copy was made: its provisioning, which follows its load, is asked for again (once is enough).
  if (earlier) return allows('beforeFirstStart', earlier.status) ? provisionInstance(deps, earlier.id, trigger) : earlier;
  if (source.staging_of) throw new DomainError('CONFLICT', `Instance ${source.id} is a staging copy itself: copy its source instead.`);
  if (!allows('stagingSource', source.status) || !source.initialized_at)
    throw new DomainError(
      'CONFLICT',
      `Instance ${source.id} is ${source.status}: a staging copy is made of a RUNNING or STOPPED instance.`,
    );
  const backup = await completedBackup(deps, await backupInstance(deps, source.id, trigger));
  const copy = await createInstance(
    deps,
    {
      customerId: source.customer_id,
      name: input.name,
      subdomain: input.subdomain,
      odooVersion: source.odoo_version,
      adminEmail: source.admin_email,
      fromBackupId: backup.id,
    },
    trigger,
    { of: source.id, expiresAt: expiry(deps) },
  );
  await recordEvent(deps, deps.db, source.id, trigger, `staging copy ${copy.id} (${copy.subdomain}) made from backup ${backup.id}`);
  deps.log.info({ event: 'staging.created', instanceId: copy.id, sourceId: source.id, backupId: backup.id }, 'staging copy created');
  return provisionInstance(deps, copy.id, trigger);
}

/** Another STAGING_TTL_DAYS for a staging copy, from now. */
export async function renewStaging(deps: Deps, instanceId: string, trigger: Trigger): Promise<InstanceRow> {
  const instance = await getInstance(deps, instanceId);
  if (!instance.staging_of || allows('ended', instance.status))
    throw new DomainError('CONFLICT', `Instance ${instanceId} is not a live staging copy.`);
  const until = expiry(deps);
  const renewed = await patchInstance(
    deps,
    deps.db,
    instance.id,
    { staging_expires_at: until },
    { event: { trigger, message: `staging copy renewed until ${until.toISOString()}` } },
  );
  return renewed!;
}
