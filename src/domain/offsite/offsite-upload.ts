import { createHash, randomBytes, type Hash } from 'node:crypto';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { sql } from 'kysely';
import { chunkSealer, DEFAULT_CHUNK_BYTES, makeHeader, sealBuffer, type ChunkSealer } from '../../crypto/backup-cipher.js';
import type { BackupRow, OffsiteFileUpload, OffsiteProgress } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { abortMultipart, completeMultipart, listParts, putObject, startMultipart, uploadPart } from '../../s3/bucket.js';
import { backupDir, MANIFEST_FILE } from '../../swarm/backup-job.js';
import type { BackupManifest } from '../backups/backups.js';
import { keptParts, partRange, planParts, type PartPlan } from './offsite-parts.js';
import { abortUnfinishedUploads, objectKey, offsitePrefix, sealContext, type OffsiteStore } from '../../s3/offsite-store.js';

/** The upload cannot succeed by trying again: the local copy is gone or no longer matches its manifest. */
export class LocalCopyUnusable extends Error {
  override readonly name = 'LocalCopyUnusable';
}

/** The backup's row went (retention) or left UPLOADING while its upload ran: what it wrote is removed. */
class UploadSuperseded extends Error {
  override readonly name = 'UploadSuperseded';
}

/** Parts of one file in flight at once, as the SDK's own uploader sends them (it sends four). */
const PARTS_AT_ONCE = 3;

export type UploadDeps = Pick<Deps, 'db' | 'config' | 'log' | 'metrics'> & { offsite: OffsiteStore };

const saveProgress = async (deps: UploadDeps, backupId: string, progress: OffsiteProgress) => {
  const saved = await deps.db
    .updateTable('backups')
    .set({ offsite_progress: JSON.stringify(progress), updated_at: sql`now()` })
    .where('id', '=', backupId)
    .where('offsite_status', '=', 'UPLOADING')
    .executeTakeFirst();
  if (saved.numUpdatedRows === 0n) throw new UploadSuperseded(`backup ${backupId} is no longer being uploaded`);
};

async function readLocalManifest(deps: UploadDeps, backup: BackupRow): Promise<{ manifest: BackupManifest; bytes: Buffer }> {
  const path = `${backupDir(deps.config.cephfsRoot, backup.instance_id, backup.id)}/${MANIFEST_FILE}`;
  const bytes = await readFile(path).catch((error: NodeJS.ErrnoException) => {
    throw new LocalCopyUnusable(`its local copy is gone (${error.code ?? error.message}): nothing left to upload`);
  });
  try {
    return { manifest: JSON.parse(bytes.toString('utf8')) as BackupManifest, bytes };
  } catch {
    throw new LocalCopyUnusable('its local manifest is not JSON');
  }
}

/** Reads part `partNumber`'s plaintext from the file, hashes it, and seals it: the part's body. */
export async function sealedPart(handle: FileHandle, plan: PartPlan, sealer: ChunkSealer, hash: Hash, partNumber: number): Promise<Buffer> {
  const range = partRange(plan, partNumber);
  const plaintext = Buffer.alloc(range.plainEnd - range.plainStart);
  const { bytesRead } = await handle.read(plaintext, 0, plaintext.length, range.plainStart);
  if (bytesRead !== plaintext.length) throw new LocalCopyUnusable('its local copy is shorter than its manifest says');
  hash.update(plaintext);
  const pieces = partNumber === 1 ? [sealer.header.bytes] : [];
  for (let chunk = range.firstChunk; chunk < range.chunkEnd; chunk++) {
    const start = (chunk - range.firstChunk) * plan.chunkBytes;
    pieces.push(sealer.seal(chunk, chunk === plan.chunks - 1, plaintext.subarray(start, start + plan.chunkBytes)));
  }
  return Buffer.concat(pieces);
}

/** Hashes the plaintext the kept parts hold, so the whole file's sha256 can still be checked at the end. */
async function hashPrefix(handle: FileHandle, hash: Hash, bytes: number): Promise<void> {
  const buffer = Buffer.alloc(Math.min(bytes, 8 * 1024 * 1024));
  for (let offset = 0; offset < bytes;) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, bytes - offset), offset);
    if (bytesRead === 0) throw new LocalCopyUnusable('its local copy is shorter than its manifest says');
    hash.update(buffer.subarray(0, bytesRead));
    offset += bytesRead;
  }
}

/** The multipart upload to go on with: the one in the row if the bucket still holds it and its key is at hand, else a new one. */
async function resumableUpload(
  deps: UploadDeps,
  key: string,
  context: string,
  recorded: OffsiteFileUpload | undefined,
  plan: PartPlan,
  signal: AbortSignal,
) {
  const { offsite } = deps;
  const recordedKey = recorded && offsite.keyring.find((candidate) => candidate.id === recorded.keyId);
  if (recorded && recordedKey) {
    const uploaded = await listParts(offsite.bucket, key, recorded.uploadId, signal);
    if (uploaded) {
      const header = makeHeader(recordedKey, Buffer.from(recorded.salt, 'base64'), recorded.chunkBytes);
      return { upload: recorded, sealer: chunkSealer(recordedKey, context, header), kept: keptParts(plan, uploaded) };
    }
  }
  if (recorded) await abortMultipart(offsite.bucket, key, recorded.uploadId, signal);
  const header = makeHeader(offsite.current, randomBytes(32), plan.chunkBytes);
  const upload: OffsiteFileUpload = {
    uploadId: await startMultipart(offsite.bucket, key, signal),
    keyId: offsite.current.id,
    salt: header.salt.toString('base64'),
    chunkBytes: plan.chunkBytes,
    chunksPerPart: plan.chunksPerPart,
  };
  return { upload, sealer: chunkSealer(offsite.current, context, header), kept: [] };
}

/**
 * Uploads one file of the backup, sealed, as a multipart upload recorded in the row before its first part: a daemon
 * stopped half-way resumes after the parts the bucket holds. The plaintext's sha256 must match the manifest's before
 * the upload is completed. Parts are sealed in order while the ones before are sent, PARTS_AT_ONCE at most.
 */
async function uploadFile(
  deps: UploadDeps,
  backup: BackupRow,
  prefix: string,
  file: BackupManifest['files'][number],
  progress: OffsiteProgress,
  signal: AbortSignal,
): Promise<void> {
  const { bucket } = deps.offsite;
  const key = objectKey(prefix, file.name);
  const entry = progress.files[file.name];
  const recorded = entry === 'done' ? undefined : entry;
  // A resumed upload keeps the cut it began with.
  const plan = planParts(file.size, recorded?.chunkBytes ?? DEFAULT_CHUNK_BYTES, recorded?.chunksPerPart);
  const handle = await open(`${backupDir(deps.config.cephfsRoot, backup.instance_id, backup.id)}/${file.name}`, 'r').catch(
    (error: NodeJS.ErrnoException) => {
      throw new LocalCopyUnusable(`its local ${file.name} is gone (${error.code ?? error.message})`);
    },
  );
  try {
    const { size } = await handle.stat();
    if (size !== file.size) throw new LocalCopyUnusable(`its local ${file.name} has ${size} bytes, its manifest says ${file.size}`);
    const { upload, sealer, kept } = await resumableUpload(deps, key, sealContext(backup.id, file.name), recorded, plan, signal);
    if (upload !== recorded) {
      progress.files[file.name] = upload;
      await saveProgress(deps, backup.id, progress);
    }
    const hash = createHash('sha256');
    const first = kept.length + 1;
    if (first > 1) {
      await hashPrefix(handle, hash, partRange(plan, first).plainStart);
      deps.log.info(
        { event: 'offsite.upload_resumed', backupId: backup.id, file: file.name, fromPart: first, parts: plan.parts },
        'upload resumed',
      );
    }
    const parts = kept.map((part) => ({ partNumber: part.partNumber, etag: part.etag }));
    // Parts are sealed in order (the hash follows the file) and sent PARTS_AT_ONCE at a time.
    const sending = new Set<Promise<void>>();
    const failures: unknown[] = [];
    for (let number = first; number <= plan.parts && failures.length === 0; number++) {
      const body = await sealedPart(handle, plan, sealer, hash, number);
      const sent: Promise<void> = uploadPart(bucket, key, upload.uploadId, number, body, signal).then(
        (etag) => {
          parts.push({ partNumber: number, etag });
          deps.metrics.offsiteBytes.inc(body.length);
        },
        (error: unknown) => void failures.push(error),
      );
      sending.add(sent);
      void sent.then(() => sending.delete(sent));
      while (sending.size >= PARTS_AT_ONCE) await Promise.race(sending);
    }
    await Promise.all(sending);
    if (failures.length > 0) throw failures[0];
    parts.sort((a, b) => a.partNumber - b.partNumber);
    if (hash.digest('hex') !== file.sha256) {
      await abortMultipart(bucket, key, upload.uploadId, signal);
      delete progress.files[file.name];
      await saveProgress(deps, backup.id, progress);
      throw new LocalCopyUnusable(`its local ${file.name} no longer matches the sha256 in its manifest`);
    }
    await completeMultipart(bucket, key, upload.uploadId, parts, signal);
    progress.files[file.name] = 'done';
    await saveProgress(deps, backup.id, progress);
  } finally {
    await handle.close();
  }
}

/**
 * Uploads a COMPLETED backup's files, then its manifest (last: the bucket holds a whole backup once the manifest is
 * there), each sealed under the current key; resumes what an earlier try left. Marks the off-site copy COMPLETED.
 */
export async function uploadBackup(deps: UploadDeps, backup: BackupRow, signal: AbortSignal): Promise<void> {
  const prefix = backup.offsite_key ?? offsitePrefix(deps.offsite, backup);
  const { manifest, bytes } = await readLocalManifest(deps, backup);
  const progress: OffsiteProgress = backup.offsite_progress ?? { files: {} };
  for (const file of manifest.files) {
    if (progress.files[file.name] === 'done') continue;
    signal.throwIfAborted();
    await uploadFile(deps, backup, prefix, file, progress, signal);
  }
  signal.throwIfAborted();
  const sealedManifest = sealBuffer(deps.offsite.current, sealContext(backup.id, MANIFEST_FILE), bytes);
  await putObject(deps.offsite.bucket, objectKey(prefix, MANIFEST_FILE), sealedManifest, signal);
  deps.metrics.offsiteBytes.inc(sealedManifest.length);
  // Every file is in: an upload still open under the prefix is one an earlier try started and never recorded.
  await abortUnfinishedUploads(deps.offsite, prefix);
  const completed = await deps.db
    .updateTable('backups')
    .set({
      offsite_status: 'COMPLETED',
      offsite_key: prefix,
      offsite_key_id: deps.offsite.current.id,
      offsite_uploaded_at: sql`now()`,
      offsite_error: null,
      offsite_progress: null,
      offsite_next_attempt_at: null,
      updated_at: sql`now()`,
    })
    .where('id', '=', backup.id)
    .where('offsite_status', '=', 'UPLOADING')
    .executeTakeFirst();
  if (completed.numUpdatedRows === 0n) throw new UploadSuperseded(`backup ${backup.id} is no longer being uploaded`);
}

export const isSuperseded = (error: unknown): boolean => error instanceof UploadSuperseded;
