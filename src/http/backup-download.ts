import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { tarFiles } from '../archive/tar.js';
import { writeZip, type ZipEntry } from '../archive/zip.js';
import type { BackupRow } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { jobTasks, judgeJob, removeJobAndSecret, startJob, failureWithLog } from '../domain/backup-jobs.js';
import { readManifest } from '../domain/backups.js';
import { odooDumpManifest } from '../domain/odoo-manifest.js';
import { isUuid } from '../domain/names.js';
import { backupDir, exportJobSpec, exportsDir, FILESTORE_FILE } from '../swarm/backup-job.js';
import type { IdentifyCaller } from './auth.js';
import { sendJson } from './respond.js';

/** Downloads under way in this process: each runs a job and reads the whole backup, so they are few at a time. */
const MAX_DOWNLOADS = 4;
const JOB_POLL_MS = 300;

/** The backup's files as Odoo's database manager restores them: dump.sql (plain), filestore/…, manifest.json. */
async function* odooEntries(sqlPath: string, backupPath: string, manifest: Buffer, created: Date): AsyncGenerator<ZipEntry> {
  const dump = await stat(sqlPath);
  yield { name: 'dump.sql', size: dump.size, modified: dump.mtime, open: () => createReadStream(sqlPath) };
  const archive = `${backupPath}/${FILESTORE_FILE}`;
  for await (const file of tarFiles(archive)) {
    // Names come from the tenant's filestore: nothing may climb out of filestore/ where the zip is unpacked.
    if (file.name.split('/').some((part) => part === '..' || part === '') || file.name.startsWith('/')) continue;
    yield {
      name: `filestore/${file.name}`,
      size: file.size,
      modified: file.modified,
      open: () =>
        file.size === 0 ? Readable.from([]) : createReadStream(archive, { start: file.offset, end: file.offset + file.size - 1 }),
    };
  }
  yield { name: 'manifest.json', size: manifest.length, modified: created, open: () => Readable.from([manifest]) };
}

/** Runs the job that writes the backup's database as plain SQL; resolves with the file's path once it is there. */
async function exportSql(deps: Deps, backup: BackupRow, exportId: string, cancelled: () => boolean): Promise<string> {
  const name = `ex-${exportId}`;
  await startJob(
    deps,
    exportJobSpec({
      name,
      instanceId: backup.instance_id,
      backupId: backup.id,
      exportId,
      image: deps.config.postgresPoolImage,
      network: null,
      cephfsRoot: deps.config.cephfsRoot,
      extraLabels: deps.config.dockerLabels,
    }),
  );
  const deadline = new Date(Date.now() + deps.config.backups.jobDeadlineSeconds * 1000);
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
 * GET /backups/{id}/download: the admin token or the owning customer's token. The zip is built on the fly from the
 * stored backup and streamed; the plain-SQL dump a one-shot job writes is removed once sent.
 */
export function createBackupDownload(deps: Deps, identifyCaller: IdentifyCaller) {
  let downloads = 0;
  return async (request: IncomingMessage, response: ServerResponse, backupId: string): Promise<void> => {
    if (request.method !== 'GET') return sendJson(response, 405, { error: 'Use GET.' }, { allow: 'GET' });
    const caller = await identifyCaller(request.headers.authorization ?? null);
    if (caller.kind === 'anonymous') {
      return sendJson(
        response,
        401,
        { error: 'A bearer token is required: the admin token, or the owner’s customer token.' },
        { 'www-authenticate': 'Bearer' },
      );
    }
    const backup = isUuid(backupId)
      ? await deps.db.selectFrom('backups').selectAll().where('id', '=', backupId).executeTakeFirst()
      : undefined;
    if (!backup) return sendJson(response, 404, { error: `Backup ${backupId} does not exist.` });
    if (caller.kind === 'customer') {
      const owner = await deps.db.selectFrom('instances').select('customer_id').where('id', '=', backup.instance_id).executeTakeFirst();
      if (owner?.customer_id !== caller.customerId)
        return sendJson(response, 403, { error: `Backup ${backupId} belongs to another customer.` });
    }
    if (backup.status !== 'COMPLETED')
      return sendJson(response, 409, { error: `Backup ${backupId} is ${backup.status}: only a COMPLETED backup can be downloaded.` });
    if (downloads >= MAX_DOWNLOADS)
      return sendJson(response, 503, { error: 'Too many downloads at once; try again shortly.' }, { 'retry-after': '30' });

    downloads += 1;
    const exportId = randomUUID();
    let gone = false;
    response.once('close', () => {
      gone = !response.writableFinished;
    });
    try {
      const manifest = await readManifest(deps, backup);
      const sqlPath = await exportSql(deps, backup, exportId, () => gone);
      const filename = `${manifest.databaseName}_${backup.created_at.toISOString().replace(/[:.]/g, '-')}.zip`;
      response.writeHead(200, { 'content-type': 'application/zip', 'content-disposition': `attachment; filename="${filename}"` });
      // Odoo's manifest: the zip holds dump.sql and filestore/, not the stored backup's files.
      const manifestBytes = Buffer.from(`${JSON.stringify(odooDumpManifest(manifest), null, 2)}\n`);
      await writeZip(
        response,
        odooEntries(sqlPath, backupDir(deps.config.cephfsRoot, backup.instance_id, backup.id), manifestBytes, backup.created_at),
      );
      response.end();
      deps.log.info({ event: 'backup.downloaded', backupId, instanceId: backup.instance_id }, 'backup downloaded');
    } catch (error) {
      deps.log.warn({ event: 'backup.download_failed', backupId, reason: (error as Error).message }, 'backup download failed');
      if (!response.headersSent)
        sendJson(response, 500, { error: `The backup could not be prepared for download: ${(error as Error).message}` });
      else response.destroy();
    } finally {
      downloads -= 1;
      await removeJobAndSecret(deps, `ex-${exportId}`);
      await rm(`${exportsDir(deps.config.cephfsRoot, backup.instance_id)}/${exportId}.sql`, { force: true });
      await rm(`${exportsDir(deps.config.cephfsRoot, backup.instance_id)}/${exportId}.sql.partial`, { force: true });
    }
  };
}
