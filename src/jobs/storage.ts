import { watchTenantMounts, type MountWatch } from '../domain/instances/storage-mounts.js';
import { measureStorageUsage } from '../domain/instances/storage-usage.js';
import type { Job } from './scheduler.js';

export const STORAGE_USAGE = 'storage-usage';
export const storageUsageJob = (schedule: string): Job => ({ name: STORAGE_USAGE, schedule, run: measureStorageUsage });

/** Every `seconds` (1-59): the leader's look at the tenants' mounts, from where the last look left off. */
export function storageMountsJob(seconds: number): Job {
  const watch: MountWatch = {};
  return { name: 'storage-mounts', schedule: `*/${seconds} * * * * *`, run: (deps) => watchTenantMounts(deps, watch) };
}
