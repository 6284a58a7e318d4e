import { constants } from 'node:fs';
import { lstat, mkdir, open, realpath, rename } from 'node:fs/promises';
import { dirname, posix } from 'node:path';

/** A path under a tenant's directory that leads out of it (a symbolic link the tenant made), refused. */
export class TenantLinkRefused extends Error {
  override readonly name = 'TenantLinkRefused';
}

const NOFOLLOW_DIRECTORY = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** Gives the directory at `path` to `uid`, never through a link: the last component is opened without following one. */
async function chownDirectory(path: string, uid: number, gid: number): Promise<void> {
  const handle = await open(path, NOFOLLOW_DIRECTORY).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'ELOOP' || error.code === 'ENOTDIR'
      ? new TenantLinkRefused(`${path} is not a directory of its own: refused`)
      : error;
  });
  try {
    await handle.chown(uid, gid);
  } finally {
    await handle.close();
  }
}

/**
 * Makes a bind-mount source directory owned by the container's user. Docker rejects a task whose bind source is
 * missing, and Odoo runs unprivileged, so it must own its data dir. Idempotent; a link in its place is refused.
 */
export async function ensureDataDir(path: string, uid: number, gid: number, mode?: number): Promise<void> {
  await mkdir(path, { recursive: true, ...(mode === undefined ? {} : { mode }) });
  await chownDirectory(path, uid, gid);
}

/**
 * `relative` (say `filestore/<db>.new-1`) inside `root`, a tenant's data directory: made when missing and given to
 * `uid`, refused when it or anything on the way to it is a link or not a directory. The tenant does not run while the
 * daemon works there (a restore stops it first), so what is checked stays as it was.
 */
export async function tenantSubdir(root: string, relative: string, uid: number): Promise<string> {
  const path = posix.join(root, relative);
  await mkdir(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  await assertOwnDirectory(root, relative);
  await chownDirectory(path, uid, uid);
  return path;
}

/** Throws unless `root/relative` is a directory that no link leads to: its real path is the path itself. */
export async function assertOwnDirectory(root: string, relative: string): Promise<void> {
  const path = posix.join(root, relative);
  const found = await lstat(path);
  if (!found.isDirectory() || (await realpath(path)) !== posix.join(await realpath(root), relative)) {
    throw new TenantLinkRefused(`${relative} in the tenant's data directory is a symbolic link or leads through one: refused`);
  }
}

/** Moves a directory aside (for example a terminated tenant's filestore); already moved or never made is fine. */
export async function moveDirAside(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  await rename(from, to).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}
