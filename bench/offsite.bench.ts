/**
 * Off-site backups of a tenant with about 100 MB of generated data (the Odoo-shaped database of backup-data.ts and a
 * 20 MB filestore), on the real services and the local radosgw, each beside a baseline measured in the same run on
 * the same data: `pg_dump -Fc` + `tar` on the host, then both files uploaded as they are with the AWS SDK's own
 * multipart uploader (`@aws-sdk/lib-storage` Upload, its defaults); and back: both files downloaded with GetObject,
 * then `createdb` + `pg_restore` + untar. Ratios are reported, never asserted.
 */
import { Upload } from '@aws-sdk/lib-storage';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ensureLocalCopy } from '../src/domain/offsite/offsite-copies.js';
import { tenantDatabaseName, tenantRoleName } from '../src/domain/names.js';
import { deleteObject, listKeys } from '../src/s3/bucket.js';
import { backupDir } from '../src/swarm/backup-job.js';
import { registerLocalPool, resetState, startTestDaemon } from '../test/support/harness.js';
import { allocatedInstance } from '../test/support/odoo.js';
import { withTenant } from '../test/support/tenant-data.js';
import { odooShaped } from './backup-data.js';
import {
  databaseBytes,
  dumpOnHost,
  figures,
  FILESTORE_MB,
  loadedInstance,
  requestedBackup,
  restoreOnHost,
  writeFilestore,
} from './tenant-bench.js';

const runs = Number(process.argv[2] ?? 3);
if (!process.env.BACKUP_S3_BUCKET || !process.env.BACKUP_S3_ENDPOINT)
  throw new Error('no S3 destination: scripts/env/up.sh writes BACKUP_S3_* into .local/env from the local radosgw');
const prefix = `bench-${process.pid}/`;

const daemon = await startTestDaemon({
  LOG_LEVEL: 'warn',
  BACKUP_S3_BUCKET: process.env.BACKUP_S3_BUCKET,
  BACKUP_S3_PREFIX: prefix,
  BACKUP_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
});
await resetState(daemon.deps);
await registerLocalPool(daemon, 'bench-pool', 50);
const { deps } = daemon;
const bucket = deps.offsite!.bucket;
const cephfs = deps.config.cephfsRoot;
const work = await mkdtemp(join(tmpdir(), 'offsite-bench-'));

const BACKUP = 'backup to S3: backupInstance to its off-site copy COMPLETED (daemon)';
const UPLOAD = '  of which the upload: local backup COMPLETED to uploaded (row times; encrypted, multipart)';
const BACKUP_BASELINE = 'baseline: pg_dump -Fc + tar on the host, then lib-storage Upload of both files';
const UPLOAD_BASELINE = '  of which the upload: lib-storage Upload of both files, unencrypted';
const FETCH = 'fetch: local copy gone, fetched, decrypted and verified (sha256) into place';
const FETCH_BASELINE = 'baseline: GetObject of both files to disk, unencrypted';
const RESTORE = 'restore from S3: createInstance(fromBackupId) to loaded, local copy gone (daemon)';
const RESTORE_BASELINE = 'baseline: GetObject of both files + createdb + pg_restore + untar on the host';

const { record, p50, ratio, print } = figures([
  BACKUP,
  UPLOAD,
  BACKUP_BASELINE,
  UPLOAD_BASELINE,
  FETCH,
  FETCH_BASELINE,
  RESTORE,
  RESTORE_BASELINE,
]);

const client = await bucket.client();
const sdkUpload = (file: string, key: string) =>
  new Upload({ client, params: { Bucket: bucket.name, Key: key, Body: createReadStream(file) } }).done();
async function sdkDownload(key: string, file: string): Promise<void> {
  const { Body } = await client.send(new GetObjectCommand({ Bucket: bucket.name, Key: key }));
  await pipeline(Body as Readable, createWriteStream(file));
}

const { id } = await allocatedInstance(daemon);
const database = tenantDatabaseName(id);
const role = tenantRoleName(id);
process.stderr.write('generating tenant data\n');
await withTenant(id, odooShaped);
await writeFilestore(cephfs, id);
const databaseSize = await databaseBytes(database);

let backupBytes = 0;
for (let index = 0; index < runs; index++) {
  let start = performance.now();
  const backup = await requestedBackup(
    daemon,
    id,
    (row) => row.offsite_status === 'COMPLETED' || row.offsite_status === 'FAILED' || row.status === 'FAILED',
  );
  if (backup.offsite_status !== 'COMPLETED') throw new Error(`backup or upload failed: ${backup.error ?? backup.offsite_error}`);
  record(BACKUP, performance.now() - start);
  record(UPLOAD, backup.offsite_uploaded_at!.getTime() - backup.finished_at!.getTime());
  backupBytes = Number(backup.size_bytes);

  const dump = join(work, 'dump.custom');
  const archive = join(work, 'filestore.tar');
  start = performance.now();
  await dumpOnHost(cephfs, id, role, database, dump, archive);
  const uploadStart = performance.now();
  await Promise.all([sdkUpload(dump, `${prefix}baseline/dump.custom`), sdkUpload(archive, `${prefix}baseline/filestore.tar`)]);
  record(UPLOAD_BASELINE, performance.now() - uploadStart);
  record(BACKUP_BASELINE, performance.now() - start);

  await rm(backupDir(cephfs, id, backup.id), { recursive: true });
  start = performance.now();
  await ensureLocalCopy(deps, backup);
  record(FETCH, performance.now() - start);
  start = performance.now();
  await Promise.all([sdkDownload(`${prefix}baseline/dump.custom`, dump), sdkDownload(`${prefix}baseline/filestore.tar`, archive)]);
  record(FETCH_BASELINE, performance.now() - start);

  await rm(backupDir(cephfs, id, backup.id), { recursive: true });
  start = performance.now();
  await loadedInstance(daemon, backup.id);
  record(RESTORE, performance.now() - start);

  start = performance.now();
  await Promise.all([sdkDownload(`${prefix}baseline/dump.custom`, dump), sdkDownload(`${prefix}baseline/filestore.tar`, archive)]);
  const cleanUp = await restoreOnHost(role, dump, archive, join(work, 'filestore'));
  record(RESTORE_BASELINE, performance.now() - start);
  await cleanUp();
  process.stderr.write(`run ${index + 1}/${runs} done\n`);
}

print(
  `off-site bench, ${runs} runs (median, min, max); database ${(databaseSize / 1024 / 1024).toFixed(0)} MB + filestore ${FILESTORE_MB.toFixed(0)} MB, backup files ${(backupBytes / 1024 / 1024).toFixed(0)} MB`,
);
console.log('ratios (daemon / baseline, median)');
console.log(`  backup to S3  ${ratio(BACKUP, p50(BACKUP_BASELINE))}`);
console.log(`  upload alone (encrypted, resumable) vs lib-storage  ${ratio(UPLOAD, p50(UPLOAD_BASELINE))}`);
console.log(`  fetch (decrypted, verified) vs GetObject  ${ratio(FETCH, p50(FETCH_BASELINE))}`);
console.log(`  restore from S3 (new instance)  ${ratio(RESTORE, p50(RESTORE_BASELINE))}`);

await rm(work, { recursive: true, force: true });
// The bench's own tree (isolated.sh): its backups would pile up run after run.
await rm(join(cephfs, 'backups'), { recursive: true, force: true });
await resetState(deps);
for (const key of await listKeys(bucket, prefix)) await deleteObject(bucket, key);
await daemon.stop();
