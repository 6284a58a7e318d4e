import { backupKinds, backupStatuses, offsiteStatuses, type BackupRow } from '../db/schema.js';
import { backupInstance, getBackup, listBackups } from '../domain/backups/backups.js';
import { restoreInstance } from '../domain/backups/restores.js';
import { builder } from './builder.js';
import { adminOrCustomer, ownedInstance, triggerOf, type GraphQLContext } from './context.js';

const BackupKind = builder.enumType('BackupKind', { values: backupKinds });
const BackupStatus = builder.enumType('BackupStatus', { values: backupStatuses });
const OffsiteStatus = builder.enumType('OffsiteStatus', {
  description: 'PENDING: waiting for its upload (or its next try); FAILED: its local copy could not be uploaded, see error.',
  values: offsiteStatuses,
});

const BackupOffsite = builder.objectRef<BackupRow>('BackupOffsite').implement({
  description: "The backup's copy in off-site storage, encrypted before it left.",
  fields: (t) => ({
    status: t.field({ type: OffsiteStatus, resolve: (backup) => backup.offsite_status! }),
    uploadedAt: t.field({ type: 'DateTime', nullable: true, resolve: (backup) => backup.offsite_uploaded_at }),
    key: t.string({
      nullable: true,
      description: 'Where its objects are in the bucket (a key prefix); not an encryption key.',
      resolve: (backup) => backup.offsite_key,
    }),
    keyId: t.string({
      nullable: true,
      description: 'The id of the encryption key it is sealed under (BACKUP_ENCRYPTION_KEY or _PREVIOUS).',
      resolve: (backup) => backup.offsite_key_id,
    }),
    attempts: t.int({ description: 'Failed upload tries so far.', resolve: (backup) => backup.offsite_attempts }),
    nextAttemptAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When a PENDING upload is tried (again).',
      resolve: (backup) => (backup.offsite_status === 'PENDING' ? backup.offsite_next_attempt_at : null),
    }),
    error: t.string({
      nullable: true,
      description: 'Why the last try failed (admins only: it names the storage).',
      resolve: (backup, _args, context) => (context.caller.kind === 'admin' ? backup.offsite_error : null),
    }),
  }),
});

const Backup = builder.objectRef<BackupRow>('Backup').implement({
  description: "A backup of an instance's database and filestore; download it from /backups/{id}/download once COMPLETED.",
  fields: (t) => ({
    id: t.exposeID('id'),
    instanceId: t.exposeID('instance_id'),
    kind: t.field({ type: BackupKind, resolve: (backup) => backup.kind }),
    status: t.field({ type: BackupStatus, resolve: (backup) => backup.status }),
    sizeBytes: t.float({
      nullable: true,
      description: 'Bytes stored (the dump and the filestore archive).',
      resolve: (backup) => (backup.size_bytes === null ? null : Number(backup.size_bytes)),
    }),
    startedAt: t.field({ type: 'DateTime', nullable: true, resolve: (backup) => backup.started_at }),
    finishedAt: t.field({ type: 'DateTime', nullable: true, resolve: (backup) => backup.finished_at }),
    createdAt: t.field({ type: 'DateTime', resolve: (backup) => backup.created_at }),
    error: t.exposeString('error', { nullable: true }),
    offsite: t.field({
      type: BackupOffsite,
      nullable: true,
      description: 'Its off-site copy; null when no off-site destination was configured when it completed.',
      resolve: (backup) => (backup.offsite_status ? backup : null),
    }),
  }),
});

/** The backup, if this caller may see it: admins any, customers those of their own instances. */
async function ownedBackup(context: GraphQLContext, id: string): Promise<BackupRow> {
  const backup = await getBackup(context.deps, id);
  await ownedInstance(context, backup.instance_id);
  return backup;
}

builder.objectField('Instance', 'backups', (t) =>
  t.field({
    type: [Backup],
    description: 'Every backup kept, oldest first.',
    resolve: (instance, _args, context) => listBackups(context.deps, instance.id),
  }),
);

builder.queryFields((t) => ({
  backup: t.field({
    type: Backup,
    nullable: true,
    authScopes: adminOrCustomer,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, context) => ownedBackup(context, id),
  }),
}));

builder.mutationFields((t) => ({
  backupInstance: t.field({
    type: Backup,
    description: 'Backs the instance up now (one at a time; customers: one manual backup an hour). Follow it with `backup(id)`.',
    authScopes: adminOrCustomer,
    args: { instanceId: t.arg.id({ required: true }) },
    resolve: async (_root, { instanceId }, context) =>
      backupInstance(context.deps, (await ownedInstance(context, instanceId)).id, triggerOf(context, 'backupInstance')),
  }),
  restoreInstance: t.field({
    type: 'Instance',
    description:
      "Replaces the instance's database and filestore with the backup's (RESTORING, then back to RUNNING); a FINAL backup keeps what it replaces.",
    authScopes: adminOrCustomer,
    args: { instanceId: t.arg.id({ required: true }), backupId: t.arg.id({ required: true }) },
    resolve: async (_root, { instanceId, backupId }, context) =>
      restoreInstance(context.deps, (await ownedInstance(context, instanceId)).id, backupId, triggerOf(context, 'restoreInstance')),
  }),
}));
