import { z } from 'zod';
import { cronExpression, int } from './rules.js';

const absolutePath = z.string().regex(/^\/[^\0]*$/, 'must be an absolute path');
const withoutTrailingSlash = (path: string) => path.replace(/\/+$/, '') || '/';

/**
 * Where tenants' files live and how they are watched. CEPHFS_ROOT (core) is the daemon's view of CephFS, with the
 * rights to set quotas and take snapshots; CEPHFS_TENANT_ROOT is the same tree through a mount without snapshot
 * rights, the source of tenant containers' bind mounts. `plain`: a plain directory, without quotas, usage or snapshots.
 */
export const storageSection = z
  .object({
    // Checked by the core section; read here for the default of CEPHFS_TENANT_ROOT.
    CEPHFS_ROOT: z.string().default('/mnt/cephfs'),
    CEPHFS_TENANT_ROOT: absolutePath
      .optional()
      .describe("the same tree through the tenants' mount (no snapshot rights): the source of their bind mounts")
      .meta({ shownDefault: '`CEPHFS_ROOT`' }),
    CEPHFS_MODE: z
      .enum(['ceph', 'plain'])
      .default('ceph')
      .describe('`plain`: a plain directory, without quotas, usage or snapshots (said at start and in `/readyz`)'),
    STORAGE_OVER_LIMIT: z
      .enum(['warn', 'suspend'])
      .default('warn')
      .describe('a tenant storing more than its plan allows: an event and a metric (`warn`), and a suspension (`suspend`)'),
    STORAGE_CHECK_SECONDS: int(1, 59).default(5).describe('how often each replica checks storage (1-59 s)'),
    STORAGE_CHECK_TIMEOUT_MS: int(100, 60_000).default(3000).describe('how long a storage check waits for an answer'),
    STORAGE_USAGE_CRON: cronExpression
      .default('*/30 * * * * *')
      .describe("when the leader measures tenants' usage and applies their limits"),
  })
  .transform((e) => ({
    storage: {
      mode: e.CEPHFS_MODE,
      /** The same tree as cephfsRoot, seen through the tenants' mount (no snapshot rights): bind-mount sources. */
      tenantRoot: withoutTrailingSlash(e.CEPHFS_TENANT_ROOT ?? e.CEPHFS_ROOT),
      /** What a tenant storing more than its plan allows (filestore and database) gets besides an event and a metric. */
      overLimit: e.STORAGE_OVER_LIMIT,
      /** How often each replica checks that storage answers (its verdict is /readyz's `storage`). */
      checkSeconds: e.STORAGE_CHECK_SECONDS,
      /** A check with no answer by then says storage is unavailable (a stopped MDS or OSD blocks, it does not fail). */
      checkTimeoutMs: e.STORAGE_CHECK_TIMEOUT_MS,
      /** When the leader measures every tenant's usage (filestore, database, backups) and applies the plans' limits. */
      usageCron: e.STORAGE_USAGE_CRON,
    },
  }))
  .meta({ title: 'Storage' });
