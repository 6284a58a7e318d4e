import { readdir, rm, rmdir } from 'node:fs/promises';
import { posix } from 'node:path';
import { runCommand } from './command.js';

/**
 * CephFS's own attributes, through the `attr` tools (Node has no xattr calls): a directory's quota
 * (`ceph.quota.max_bytes`, enforced by the client: a write past it fails with EDQUOT) and the bytes below it
 * (`ceph.dir.rbytes`, kept by the MDS: no walk of the tree, a few seconds behind writes). A directory's size in
 * stat() is not it: the client's cached attributes lag far behind.
 */

const COMMAND_TIMEOUT_MS = 10_000;

/** Sets (bytes) or lifts (null) the quota of `dir`. */
export async function setQuota(dir: string, bytes: number | null): Promise<void> {
  const result = await runCommand('setfattr', ['-n', 'ceph.quota.max_bytes', '-v', String(bytes ?? 0), '--', dir], COMMAND_TIMEOUT_MS);
  if (result.code !== 0) throw new Error(`cannot set the quota of ${dir}: ${result.stderr.trim() || `setfattr exited ${result.code}`}`);
}

export interface DirAttributes {
  /** Bytes of every file below the directory, as the MDS counts them. */
  rbytes: number;
  /** Its quota in bytes; null when it has none. */
  quota: number | null;
}

/** Parses getfattr's `# file: <path>` / `<name>="<value>"` blocks. */
function parseGetfattr(stdout: string): Map<string, Record<string, string>> {
  const found = new Map<string, Record<string, string>>();
  let current: Record<string, string> | null = null;
  for (const line of stdout.split('\n')) {
    const file = /^# file: (.*)$/.exec(line);
    if (file) {
      current = found.get(file[1]!) ?? {};
      found.set(file[1]!, current);
      continue;
    }
    const attribute = /^([^=]+)="(.*)"$/.exec(line);
    if (attribute && current) current[attribute[1]!] = attribute[2]!;
  }
  return found;
}

/**
 * rbytes and quota of each directory, in one process for all of them (a few milliseconds each). Directories that do
 * not exist (or cannot be read) are left out. Throws when the command gives no answer in time.
 */
export async function readDirAttributes(dirs: string[], timeoutMs: number): Promise<Map<string, DirAttributes>> {
  const attributes = new Map<string, DirAttributes>();
  if (dirs.length === 0) return attributes;
  const script = 'for name in ceph.dir.rbytes ceph.quota.max_bytes; do getfattr --absolute-names -e text -n "$name" -- "$@"; done; exit 0';
  const result = await runCommand('sh', ['-c', script, 'sh', ...dirs], timeoutMs);
  for (const [dir, values] of parseGetfattr(result.stdout)) {
    const rbytes = values['ceph.dir.rbytes'];
    if (rbytes === undefined) continue;
    const quota = Number(values['ceph.quota.max_bytes'] ?? 0);
    attributes.set(dir, { rbytes: Number(rbytes), quota: quota > 0 ? quota : null });
  }
  return attributes;
}

/** Removes the snapshot `name` of `dir`, if there is one. */
export async function removeSnapshot(dir: string, name: string): Promise<void> {
  await rmdir(posix.join(dir, '.snap', name)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

/**
 * Removes `dir` and everything below it. CephFS refuses to remove a directory that still has snapshots, so its own
 * go first (those of the directories above it show there too, as `_<name>_<inode>`: they are not its to remove).
 */
export async function removeTree(dir: string): Promise<void> {
  const snapshots = await readdir(posix.join(dir, '.snap')).catch(() => [] as string[]);
  for (const name of snapshots.filter((entry) => !entry.startsWith('_'))) await removeSnapshot(dir, name);
  await rm(dir, { recursive: true, force: true });
}
