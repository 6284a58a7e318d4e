import type { InstanceUsageRow } from '../db/schema.js';
import { usageOf } from '../domain/instances/storage-usage.js';
import { builder } from './builder.js';

const bytes = (value: string | null) => (value === null ? null : Number(value));

const InstanceUsage = builder.objectRef<InstanceUsageRow>('InstanceUsage').implement({
  description:
    "What an instance stores, as last measured (STORAGE_USAGE_CRON): its filestore and backups from CephFS's own counts, " +
    'its database from PostgreSQL. Filestore and database count against its storage limit; backups do not.',
  fields: (t) => ({
    filestoreBytes: t.float({
      nullable: true,
      description: 'Its data dir (filestore, sessions); null on a plain directory (CEPHFS_MODE=plain).',
      resolve: (usage) => bytes(usage.filestore_bytes),
    }),
    databaseBytes: t.float({ nullable: true, resolve: (usage) => bytes(usage.database_bytes) }),
    backupBytes: t.float({ nullable: true, description: 'Its backups kept on CephFS.', resolve: (usage) => bytes(usage.backup_bytes) }),
    measuredAt: t.field({
      type: 'DateTime',
      description: 'When it was measured; a part that could not be measured then keeps its last value.',
      resolve: (usage) => usage.measured_at,
    }),
    overLimitSince: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'Since when filestore and database together exceed the storage limit; null within it.',
      resolve: (usage) => usage.over_limit_since,
    }),
  }),
});

builder.objectFields('Instance', (t) => ({
  storageLimitBytes: t.float({
    nullable: true,
    description: "What it may store (filestore and database), from its plan; its data dir's quota. Null: no limit.",
    resolve: (instance) => bytes(instance.storage_limit_bytes),
  }),
  usage: t.loadable({
    type: InstanceUsage,
    nullable: true,
    description: 'What it stores, as last measured; null until first measured.',
    load: (instanceIds: string[], context) => usageOf(context.deps, instanceIds),
    resolve: (instance) => instance.id,
  }),
}));
