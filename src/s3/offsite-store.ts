import type { OffsiteConfig } from '../config/config.js';
import { backupKey, type BackupKey, type BackupKeyring } from '../crypto/backup-cipher.js';
import type { BackupRow } from '../db/schema.js';
import { abortMultipart, connectBucket, deleteObject, listKeys, unfinishedUploads, type Bucket } from './bucket.js';

/** The off-site destination as the daemon uses it: the bucket, and the keys backups are sealed and opened with. */
export interface OffsiteStore {
  bucket: Bucket;
  /** What new uploads are sealed with. */
  current: BackupKey;
  /** The current key first, then the previous one: a file opens with the key its header names. */
  keyring: BackupKeyring;
}

/** Null when no destination is configured: backups stay local only. */
export function createOffsiteStore(config: OffsiteConfig): OffsiteStore | null {
  if (!config.destination || !config.encryptionKey) return null;
  const current = backupKey(config.encryptionKey);
  const keyring = config.encryptionKeyPrevious ? [current, backupKey(config.encryptionKeyPrevious)] : [current];
  return { bucket: connectBucket(config.destination), current, keyring };
}

/** Where a backup's objects go: `<prefix><instance id>/<backup id>/`. */
export const offsitePrefix = (store: OffsiteStore, backup: { id: string; instance_id: string }): string =>
  `${store.bucket.prefix}${backup.instance_id}/${backup.id}/`;

/** A file's object: its name with `.enc`, under the backup's prefix. */
export const objectKey = (prefix: string, file: string): string => `${prefix}${file}.enc`;

/** What a file is sealed for: a file put in another's place does not open. */
export const sealContext = (backupId: string, file: string): string => `${backupId}/${file}`;

/** How the destination is described in logs and /readyz: no credential. */
export const describeDestination = (config: OffsiteConfig): string =>
  config.destination
    ? `s3://${config.destination.bucket}/${config.destination.prefix}${config.destination.endpoint ? ` at ${config.destination.endpoint}` : ''}`
    : 'none';

/** Aborts the multipart uploads left under `prefix` (one whose start was answered after its daemon stopped waiting). */
export async function abortUnfinishedUploads(store: OffsiteStore, prefix: string): Promise<void> {
  for (const upload of await unfinishedUploads(store.bucket, prefix)) await abortMultipart(store.bucket, upload.key, upload.uploadId);
}

/** Removes the backup's off-site objects and any unfinished upload of it; what is already gone is fine. */
export async function deleteOffsiteCopy(store: OffsiteStore, backup: Pick<BackupRow, 'offsite_key'>): Promise<void> {
  if (!backup.offsite_key) return;
  await abortUnfinishedUploads(store, backup.offsite_key);
  for (const key of await listKeys(store.bucket, backup.offsite_key)) await deleteObject(store.bucket, key);
}
