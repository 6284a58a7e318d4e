import type { Config } from '../config/config.js';
import { unavailable } from '../errors.js';
import { createStorageMonitor, type StorageHealth, type StorageMode } from './monitor.js';

/** The tenants' storage as the daemon reaches it: its two views of one tree, and whether it answers. */
export interface Storage {
  mode: StorageMode;
  /** The daemon's view (CEPHFS_ROOT): quotas, snapshots, every file operation of the daemon. */
  root: string;
  /** The same tree through the tenants' mount (CEPHFS_TENANT_ROOT): the source of containers' bind mounts. */
  tenantRoot: string;
  /** What the last check found. */
  health: () => StorageHealth;
  /** Checks now (or joins the check under way). */
  check: () => Promise<StorageHealth>;
  /** Throws SERVICE_UNAVAILABLE naming storage while the last check failed: a call fails fast instead of blocking. */
  assertAvailable: () => void;
  /**
   * Instances whose running container holds a dead CephFS mount, with the reason (the leader finds them): DEGRADED
   * until they are restarted, once storage is back.
   */
  staleTenants: Map<string, string>;
}

export function createStorage(config: Pick<Config, 'cephfsRoot' | 'storage'>): Storage {
  const monitor = createStorageMonitor({
    mode: config.storage.mode,
    root: config.cephfsRoot,
    tenantRoot: config.storage.tenantRoot,
    timeoutMs: config.storage.checkTimeoutMs,
  });
  return {
    mode: config.storage.mode,
    root: config.cephfsRoot,
    tenantRoot: config.storage.tenantRoot,
    health: monitor.current,
    check: monitor.check,
    assertAvailable: () => {
      const { status, checkedAt } = monitor.current();
      if (checkedAt && status !== 'ok') throw unavailable('storage', status);
    },
    staleTenants: new Map(),
  };
}

/** What /readyz says about the storage's kind beside its health. */
export const storageModeNote = (mode: StorageMode): string =>
  mode === 'ceph' ? 'cephfs' : 'plain directory (CEPHFS_MODE=plain): no quotas, no usage, no snapshots';
