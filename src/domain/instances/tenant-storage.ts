import type { InstanceRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { setQuota } from '../../storage/cephfs.js';
import { ensureDirUnder } from '../../storage/dirs.js';
import { instanceDataDir } from '../../storage/layout.js';

type StorageDeps = Pick<Deps, 'storage' | 'config'>;

/** The instance's storage limit in bytes; null: none. */
export const storageLimitOf = (instance: Pick<InstanceRow, 'storage_limit_bytes'>): number | null =>
  instance.storage_limit_bytes === null ? null : Number(instance.storage_limit_bytes);

/**
 * Makes the instance's data dir (owned by Odoo's user) and gives it its plan's quota (on CephFS), `extraBytes` above the
 * limit while a restore loads a backup beside what it replaces. Fails fast, naming storage, while storage is away. Idempotent.
 */
export async function prepareDataDir(
  deps: StorageDeps,
  instance: Pick<InstanceRow, 'id' | 'storage_limit_bytes'>,
  extraBytes = 0,
): Promise<string> {
  deps.storage.assertAvailable();
  const dir = instanceDataDir(deps.storage.root, instance.id);
  await ensureDirUnder(deps.storage.root, dir, deps.config.odooUid, deps.config.odooUid);
  await applyQuota(deps, instance, extraBytes);
  return dir;
}

/** Sets the data dir's quota to the instance's limit (plus `extraBytes`); a plain directory has none. */
export async function applyQuota(
  deps: StorageDeps,
  instance: Pick<InstanceRow, 'id' | 'storage_limit_bytes'>,
  extraBytes = 0,
): Promise<void> {
  if (deps.storage.mode !== 'ceph') return;
  const limit = storageLimitOf(instance);
  await setQuota(instanceDataDir(deps.storage.root, instance.id), limit === null ? null : limit + extraBytes);
}
