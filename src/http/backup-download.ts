import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { HashedFile } from '../archive/hashed-file.js';
import { tarFiles } from '../archive/tar.js';
import { writeZip, type ZipEntry } from '../archive/zip.js';
import type { BackupRow } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { DomainError } from '../errors.js';
import {
  exportJobName,
  exportLeftovers,
  jobTasks,
  judgeJob,
  removeJobAndSecret,
  startJob,
  failureWithLog,
} from '../domain/backups/backup-jobs.js';
import type { BackupManifest } from '../domain/backups/backups.js';
import { ensureLocalCopy } from '../domain/offsite/offsite-copies.js';
import { odooDumpManifest } from '../domain/backups/odoo-manifest.js';
import { isUuid } from '../domain/names.js';
import { ensureDirUnder } from '../storage/dirs.js';
import { backupDir, DUMP_FILE, exportJobSpec, exportsDir, FILESTORE_FILE, instanceBackupsDir } from '../swarm/backup-job.js';
import { bearerToken, type IdentifyCaller } from './auth.js';
import { CSRF_HEADER } from './graphql.js';
import { sendJson } from './respond.js';

/** Downloads under way in this process: each runs a job and reads the whole backup, so they are few at a time. */
const MAX_DOWNLOADS = 4;
/** Downloads one caller (a customer, the admins) may have under way in this process. */
const MAX_DOWNLOADS_PER_CALLER = 2;
/** A client that takes nothing for this long is dropped: a slow reader cannot hold a download slot for ever. */
const STALL_MS = 60_000;
/** How long the plain-SQL export may take before the download gives up. */
export const EXPORT_DEADLINE_MS = 30 * 60_000;
const JOB_POLL_MS = 300;

const sha256Of = (manifest: BackupManifest, name: string): string => {
  const sha = manifest.files.find((file) => file.name === name)?.sha256;
  if (!sha || !/^[0-9a-f]{64}$/.test(sha)) throw new Error(`the manifest gives no sha256 for ${name}`);
  return sha;
};

/**
 * The backup's files as Odoo's database manager restores them: dump.sql (plain), filestore/…, manifest.json. The
 * filestore archive is read once, front to back, through sha256: one that does not match its manifest ends the
 * download before the zip is complete (its central directory is never written), so a client cannot take it for good.
 */
async function* odooEntries(sqlPath: string, backupPath: string, manifest: BackupManifest, created: Date): AsyncGenerator<ZipEntry> {
  // Written by a job as the tenant's uid: opened without following a link in its place.
  const dumpFile = await open(sqlPath, constants.O_RDONLY | constants.O_NOFOLLOW);
  const dump = await dumpFile.stat();
  yield { name: 'dump.sql', size: dump.size, modified: dump.mtime, open: () => dumpFile.createReadStream() };
  const path = `${backupPath}/${FILESTORE_FILE}`;
  const archive = await HashedFile.open(path);
  try {
    for await (const file of tarFiles(path)) {
      // Names come from the tenant's filestore: nothing may climb out of filestore/ where the zip is unpacked.
      if (file.name.split('/').some((part) => part === '..' || part === '') || file.name.startsWith('/')) continue;
      yield {
        name: `filestore/${file.name}`,
        size: file.size,
        modified: file.modified,
        open: () => Readable.from(archive.range(file.offset, file.offset + file.size)),
      };
    }
    if ((await archive.digest()) !== sha256Of(manifest, FILESTORE_FILE))
      throw new Error(`${FILESTORE_FILE}: sha256 does not match the manifest`);
  } finally {
    await archive.close();
  }
  // Odoo's manifest: the zip holds dump.sql and filestore/, not the stored backup's files.
  const manifestBytes = Buffer.from(`${JSON.stringify(odooDumpManifest(manifest), null, 2)}\n`);
  yield { name: 'manifest.json', size: manifestBytes.length, modified: created, open: () => Readable.from([manifestBytes]) };
}

/** Runs the job that writes the backup's database as plain SQL; resolves with the file's path once it is there. */
async function exportSql(deps: Deps, backup: BackupRow, manifest: BackupManifest, exportId: string, cancelled: () => boolean) {
  const name = exportJobName(exportId);
  // The job runs as the tenant's uid: it writes where that uid may, and nowhere else.
  const { root } = deps.storage;
  for (const dir of [instanceBackupsDir(root, backup.instance_id), exportsDir(root, backup.instance_id)])
    await ensureDirUnder(root, dir, deps.config.odooUid, deps.config.odooUid, 0o700);
  await startJob(
    deps,
    exportJobSpec({
      name,
      instanceId: backup.instance_id,
      backupId: backup.id,
      exportId,
      dumpSha256: sha256Of(manifest, DUMP_FILE),
      image: deps.config.postgresPoolImage,
      network: null,
      cephfsRoot: deps.config.cephfsRoot,
      uid: deps.config.odooUid,
      extraLabels: deps.config.dockerLabels,
    }),
  );
  const deadline = new Date(Date.now() + EXPORT_DEADLINE_MS);
  for (;;) {
    if (cancelled()) throw new Error('the client went away');
    const tasks = await jobTasks(deps, name);
    const verdict =
      tasks === null
        ? ({ kind: 'failed', reason: 'the export job was removed', taskId: null } as const)
        : judgeJob(tasks, deadline, new Date());
    if (verdict.kind === 'done') return `${exportsDir(deps.config.cephfsRoot, backup.instance_id)}/${exportId}.sql`;
    if (verdict.kind === 'failed') throw new Error(await failureWithLog(deps, verdict));
    await sleep(JOB_POLL_MS);
  }
}

/**
 * GET /backups/{id}/download: the admin token or the owning customer's token, as a Bearer token only, with the CSRF
 * header (a page of another site cannot send it without a CORS preflight). Another customer's backup is 404, as one
 * that does not exist. The zip is built on the fly from the stored backup and streamed; the plain-SQL dump a one-shot
 * job writes is removed once sent (and swept by the leader if the daemon stopped meanwhile).
 */
export function createBackupDownload(deps: Deps, identifyCaller: IdentifyCaller) {
  let downloads = 0;
  const byCaller = new Map<string, number>();
  return async (request: IncomingMessage, response: ServerResponse, backupId: string): Promise<void> => {
    if (request.method !== 'GET') return sendJson(response, 405, { error: 'Use GET.' }, { allow: 'GET' });
    const token = bearerToken(request.headers.authorization);
    const caller = token ? await identifyCaller(`Bearer ${token}`) : ({ kind: 'anonymous' } as const);
    if (caller.kind === 'anonymous') {
      return sendJson(
        response,
        401,
        { error: 'A bearer token is required: the admin token, or the owner’s customer token.' },
        { 'www-authenticate': 'Bearer' },
      );
    }
    if (request.headers[CSRF_HEADER] === undefined)
      return sendJson(response, 403, { error: `A download needs the ${CSRF_HEADER} header (any value).` });
    const backup = isUuid(backupId)
      ? await deps.db.selectFrom('backups').selectAll().where('id', '=', backupId).executeTakeFirst()
      : undefined;
    const owner =
      backup && caller.kind === 'customer'
        ? await deps.db.selectFrom('instances').select('customer_id').where('id', '=', backup.instance_id).executeTakeFirst()
        : undefined;
    if (!backup || (caller.kind === 'customer' && owner?.customer_id !== caller.customerId))
      return sendJson(response, 404, { error: `Backup ${backupId} does not exist.` });
    if (backup.status !== 'COMPLETED')
      return sendJson(response, 409, { error: `Backup ${backupId} is ${backup.status}: only a COMPLETED backup can be downloaded.` });
    const who = caller.kind === 'customer' ? `customer:${caller.customerId}` : 'admin';
    if ((byCaller.get(who) ?? 0) >= MAX_DOWNLOADS_PER_CALLER)
      return sendJson(response, 429, { error: `At most ${MAX_DOWNLOADS_PER_CALLER} downloads at once.` }, { 'retry-after': '30' });
    if (downloads >= MAX_DOWNLOADS)
      return sendJson(response, 503, { error: 'Too many downloads at once; try again shortly.' }, { 'retry-after': '30' });
    const storage = deps.storage.health();
    if (storage.status !== 'ok')
      return sendJson(response, 503, { error: `Storage is unavailable (${storage.status}); try again shortly.` });

    downloads += 1;
    byCaller.set(who, (byCaller.get(who) ?? 0) + 1);
    const exportId = randomUUID();
    let gone = false;
    response.once('close', () => {
      gone = !response.writableFinished;
    });
    try {
      // A local copy that retention removed (or that is damaged) is fetched back from off-site storage first, verified.
      const manifest = await ensureLocalCopy(deps, backup);
      const sqlPath = await exportSql(deps, backup, manifest, exportId, () => gone);
      const filename = `${manifest.databaseName}_${backup.created_at.toISOString().replace(/[:.]/g, '-')}.zip`;
      response.writeHead(200, { 'content-type': 'application/zip', 'content-disposition': `attachment; filename="${filename}"` });
      // From here on the client sets the pace: one that stops reading is dropped.
      response.setTimeout(STALL_MS, () => response.destroy(new Error('the client took nothing for too long')));
      await writeZip(
        response,
        odooEntries(sqlPath, backupDir(deps.config.cephfsRoot, backup.instance_id, backup.id), manifest, backup.created_at),
      );
      response.end();
      deps.log.info({ event: 'backup.downloaded', backupId, instanceId: backup.instance_id }, 'backup downloaded');
    } catch (error) {
      deps.log.warn({ event: 'backup.download_failed', backupId, reason: (error as Error).message }, 'backup download failed');
      // A refused off-site copy (409) or unreachable storage (503) is said as it is; anything else is ours (500).
      const status =
        error instanceof DomainError ? ({ CONFLICT: 409, SERVICE_UNAVAILABLE: 503 } as Record<string, number>)[error.code] : undefined;
      if (!response.headersSent)
        sendJson(response, status ?? 500, {
          error: status ? (error as Error).message : `The backup could not be prepared for download: ${(error as Error).message}`,
        });
      else response.destroy();
    } finally {
      downloads -= 1;
      byCaller.set(who, byCaller.get(who)! - 1);
      if (byCaller.get(who) === 0) byCaller.delete(who);
      // The files first: a job left behind (the daemon stopped here) is how the leader finds what to sweep.
      for (const path of exportLeftovers(deps.config.cephfsRoot, backup.instance_id, exportId)) await rm(path, { force: true });
      await removeJobAndSecret(deps, exportJobName(exportId));
    }
  };
}
