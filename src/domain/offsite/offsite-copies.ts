import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BackupCipherError, openBuffer, openChunks } from '../../crypto/backup-cipher.js';
import type { BackupRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { DomainError, unavailable } from '../../errors.js';
import { getObject, getObjectBytes, S3Error } from '../../s3/bucket.js';
import { backupDir, DUMP_FILE, FILESTORE_FILE, instanceBackupsDir, MANIFEST_FILE } from '../../swarm/backup-job.js';
import { readManifest, type BackupManifest } from '../backups/backups.js';
import { objectKey, sealContext, type OffsiteStore } from '../../s3/offsite-store.js';

type CopyDeps = Pick<Deps, 'config' | 'log' | 'offsite' | 'storage'>;

/** The local copy's manifest when every file it lists is there with the size it gives; null otherwise. */
export async function intactLocalManifest(deps: Pick<Deps, 'config' | 'storage'>, backup: Pick<BackupRow, 'id' | 'instance_id'>) {
  // Storage away says nothing of the copy: that fails here, rather than reading as a copy to fetch again.
  deps.storage.assertAvailable();
  const dir = backupDir(deps.config.cephfsRoot, backup.instance_id, backup.id);
  let manifest: BackupManifest;
  try {
    manifest = await readManifest(deps, backup);
  } catch {
    return null;
  }
  for (const name of [DUMP_FILE, FILESTORE_FILE]) {
    const file = manifest.files.find((entry) => entry.name === name);
    const size = await lstat(`${dir}/${name}`).then(
      (found) => found.size,
      () => -1,
    );
    if (!file || !/^[0-9a-f]{64}$/.test(file.sha256) || file.size !== size) return null;
  }
  return manifest;
}

/** A refusal the caller can read: which backup, which object, what is wrong with it, and that nothing changed. */
const refused = (backup: BackupRow, what: string) =>
  new DomainError('CONFLICT', `Backup ${backup.id}'s off-site copy ${what}; it was not used and nothing was changed.`);

/** Translates a failure reading the off-site copy into what the caller is told. */
function readFailure(backup: BackupRow, file: string, error: unknown): Error {
  if (error instanceof DomainError) return error;
  if (error instanceof BackupCipherError) return refused(backup, `does not verify (${file}: ${error.message})`);
  if (error instanceof S3Error && error.notFound) return refused(backup, `is incomplete: ${file} is missing from the bucket`);
  if (error instanceof S3Error) return unavailable('off-site storage', error.message);
  return error as Error;
}

function storeOf(deps: CopyDeps, backup: BackupRow): OffsiteStore {
  if (backup.offsite_status !== 'COMPLETED' || !backup.offsite_key)
    throw new DomainError('CONFLICT', `Backup ${backup.id} has no local copy left and no complete off-site copy.`);
  if (!deps.offsite)
    throw new DomainError(
      'CONFLICT',
      `Backup ${backup.id}'s local copy is gone and no off-site destination is configured to read it from.`,
    );
  return deps.offsite;
}

/**
 * The backup's manifest from its off-site copy, opened and checked to be this backup's. A cheap look (one small
 * object) before anything starts: a copy whose manifest does not verify is refused at once.
 */
export async function offsiteManifest(deps: CopyDeps, backup: BackupRow): Promise<{ manifest: BackupManifest; bytes: Buffer }> {
  const store = storeOf(deps, backup);
  try {
    const sealed = await getObjectBytes(store.bucket, objectKey(backup.offsite_key!, MANIFEST_FILE));
    const bytes = await openBuffer(sealed, store.keyring, sealContext(backup.id, MANIFEST_FILE));
    const manifest = JSON.parse(bytes.toString('utf8')) as BackupManifest & { backupId?: string };
    if (manifest.backupId !== backup.id) throw refused(backup, `holds the manifest of backup ${manifest.backupId}`);
    return { manifest, bytes };
  } catch (error) {
    throw readFailure(backup, MANIFEST_FILE, error);
  }
}

/** Whether the backup can be used: its local copy is intact, or its off-site copy's manifest verifies. */
export async function usableCopy(deps: CopyDeps, backup: BackupRow): Promise<'local' | 'offsite'> {
  if (await intactLocalManifest(deps, backup)) return 'local';
  if (backup.status === 'COMPLETED' && backup.offsite_status === 'COMPLETED') {
    await offsiteManifest(deps, backup);
    return 'offsite';
  }
  throw new DomainError('CONFLICT', `Backup ${backup.id} is damaged or incomplete: its files do not match its manifest.`);
}

/** Counts and hashes what passes through. */
function measured(hash: ReturnType<typeof createHash>, counter: { bytes: number }) {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      counter.bytes += chunk.length;
      done(null, chunk);
    },
  });
}

/**
 * Downloads the off-site copy into a directory of its own, opening each chunk and checking each file's size and
 * sha256 against the manifest, then renames it into the backup's place. Nothing is in place until all of it verified.
 */
async function fetchInto(deps: CopyDeps, backup: BackupRow): Promise<BackupManifest> {
  const store = storeOf(deps, backup);
  const { manifest, bytes } = await offsiteManifest(deps, backup);
  const parent = instanceBackupsDir(deps.config.cephfsRoot, backup.instance_id);
  const work = `${parent}/.fetch-${backup.id}-${randomUUID().slice(0, 8)}`;
  // Laid out as the backup job lays out a backup (umask 022): the jobs that read it find what they expect.
  await mkdir(work, { recursive: true, mode: 0o755 });
  // The files come down side by side; the first that fails stops the others.
  const stop = new AbortController();
  const fetchFile = async (file: BackupManifest['files'][number]) => {
    const hash = createHash('sha256');
    const counter = { bytes: 0 };
    try {
      const source = await getObject(store.bucket, objectKey(backup.offsite_key!, file.name), stop.signal);
      await pipeline(
        openChunks(source, store.keyring, sealContext(backup.id, file.name)),
        measured(hash, counter),
        createWriteStream(`${work}/${file.name}`, { mode: 0o644 }),
        { signal: stop.signal },
      );
    } catch (error) {
      throw readFailure(backup, file.name, error);
    }
    if (counter.bytes !== file.size || hash.digest('hex') !== file.sha256)
      throw refused(backup, `does not verify (${file.name}: its size or sha256 differs from its manifest's)`);
  };
  const errors: unknown[] = [];
  try {
    await Promise.all(
      manifest.files.map((file) =>
        fetchFile(file).catch((error: unknown) => {
          errors.push(error);
          stop.abort();
        }),
      ),
    );
    // The first failure, not the aborts it caused.
    if (errors.length > 0) throw errors[0];
    await writeFile(`${work}/${MANIFEST_FILE}`, bytes, { mode: 0o644 });
    const target = backupDir(deps.config.cephfsRoot, backup.instance_id, backup.id);
    // A damaged local copy (files missing or cut short) makes way for the verified one.
    if (!(await intactLocalManifest(deps, backup))) {
      await rm(target, { recursive: true, force: true });
      await rename(work, target);
    }
    deps.log.info(
      { event: 'offsite.fetched', instanceId: backup.instance_id, backupId: backup.id },
      'backup fetched from off-site storage',
    );
    return manifest;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const fetches = new Map<string, Promise<BackupManifest>>();

/** The fetch of the backup under way in this process, or a new one: one at a time per backup. */
function fetchOnce(deps: CopyDeps, backup: BackupRow): Promise<BackupManifest> {
  let fetch = fetches.get(backup.id);
  if (!fetch) {
    fetch = fetchInto(deps, backup).finally(() => fetches.delete(backup.id));
    fetches.set(backup.id, fetch);
  }
  return fetch;
}

/** The backup's local copy, fetched from off-site storage first when it is gone or damaged. */
export async function ensureLocalCopy(deps: CopyDeps, backup: BackupRow): Promise<BackupManifest> {
  return (await intactLocalManifest(deps, backup)) ?? fetchOnce(deps, backup);
}

export type FetchState = { state: 'pending' } | { state: 'done' } | { state: 'failed'; reason: string };

const failures = new Map<string, string>();

/**
 * For a step that must not wait (a restore's tick): starts the fetch when the local copy is not there and none runs,
 * and says how it stands; `settled` is called once a fetch it started ends, so the step need not wait for a tick. A
 * daemon stopped mid-way starts it again (a half-fetched directory is never in place).
 */
export async function pollFetch(deps: CopyDeps, backup: BackupRow, settled: () => void): Promise<FetchState> {
  if (fetches.has(backup.id)) return { state: 'pending' };
  const reason = failures.get(backup.id);
  if (reason !== undefined) {
    failures.delete(backup.id);
    return { state: 'failed', reason };
  }
  if (await intactLocalManifest(deps, backup)) return { state: 'done' };
  void fetchOnce(deps, backup)
    .catch((error: Error) => void failures.set(backup.id, error.message))
    .finally(settled);
  return { state: 'pending' };
}
