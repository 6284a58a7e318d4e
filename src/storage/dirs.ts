import { constants } from 'node:fs';
import { access, lstat, mkdir, open, realpath, rename, stat } from 'node:fs/promises';
import { dirname, posix } from 'node:path';
import { runCommand } from './command.js';
import { removeTree } from './cephfs.js';

/** A path below the storage root that is missing: CephFS is not mounted there (or the root was never made). */
export class StorageRootMissing extends Error {
  override readonly name = 'StorageRootMissing';
}

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

/** Whether `path` lies strictly below `root`. */
const isBelow = (root: string, path: string) => path.startsWith(root === '/' ? '/' : `${root}/`) && path !== root;

/**
 * Makes `path` (and what lies between it and `root`), owned by `uid:gid`, but never `root` itself: a root that is
 * missing means CephFS is not mounted, and what would be made then lands on the local disk, hidden once CephFS is
 * mounted over it. Docker rejects a task whose bind source is missing, and Odoo runs unprivileged, so it must own its
 * data dir. Idempotent.
 */
export async function ensureDirUnder(root: string, path: string, uid: number, gid: number, mode?: number): Promise<void> {
  if (!isBelow(root, path)) throw new RangeError(`${path} is not below the storage root ${root}`);
  const found = await stat(root).catch((error: NodeJS.ErrnoException) => {
    throw new StorageRootMissing(`the storage root ${root} cannot be reached (${error.code ?? error.message}): is CephFS mounted?`);
  });
  if (!found.isDirectory()) throw new StorageRootMissing(`the storage root ${root} is not a directory`);
  await mkdir(path, { recursive: true, mode });
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

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * Moves a tenant's directory to `to` (made below `root` if need be); one already moved, or never made, is fine. A
 * rename into or out of a directory with a CephFS quota fails with EXDEV ("Invalid cross-device link"): then the tree is
 * copied as it is (owners, modes, times; symbolic links as links, never followed) to a sibling of `to`, renamed into
 * place, and the original removed. A move cut short is finished by the next call.
 */
export async function moveDir(root: string, from: string, to: string): Promise<void> {
  await ensureDirUnder(root, dirname(to), 0, 0);
  try {
    await rename(from, to);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code !== 'EXDEV' && !(code === 'ENOTEMPTY' && (await exists(to)))) throw error;
  }
  await copyDir(from, to);
  await removeTree(from);
}

/**
 * Copies the tree at `from` to `to` as it is (owners, modes, times; symbolic links as links, never followed), every
 * file a copy of its own (never a hard link to `from`'s): into a sibling of `to`, renamed into place once whole, so
 * `to` exists only complete. A copy already in place is kept; one cut short is made again.
 */
export async function copyDir(from: string, to: string): Promise<void> {
  if (await exists(to)) return;
  const partial = posix.join(dirname(to), `.partial-${posix.basename(to)}`);
  await removeTree(partial);
  const copied = await runCommand('cp', ['-a', '--no-target-directory', '--', from, partial], 24 * 3600_000);
  if (copied.code !== 0) {
    await removeTree(partial);
    throw new Error(`cannot copy ${from} to ${to}: ${copied.stderr.trim() || `cp exited ${copied.code}`}`);
  }
  await rename(partial, to);
}
