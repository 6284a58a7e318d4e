import { chown, mkdir } from 'node:fs/promises';

/**
 * Makes a bind-mount source directory owned by the container's user. Docker rejects a task whose bind source is
 * missing, and Odoo runs unprivileged, so it must own its data dir. Idempotent.
 */
export async function ensureDataDir(path: string, uid: number, gid: number): Promise<void> {
  await mkdir(path, { recursive: true });
  await chown(path, uid, gid);
}
