import { chown, mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Makes a bind-mount source directory owned by the container's user. Docker rejects a task whose bind source is
 * missing, and Odoo runs unprivileged, so it must own its data dir. Idempotent.
 */
export async function ensureDataDir(path: string, uid: number, gid: number): Promise<void> {
  await mkdir(path, { recursive: true });
  await chown(path, uid, gid);
}

/** Moves a directory aside (for example a terminated tenant's filestore); already moved or never made is fine. */
export async function moveDirAside(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  await rename(from, to).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}
