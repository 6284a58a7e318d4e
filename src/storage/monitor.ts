import { readFile } from 'node:fs/promises';
import { CommandTimeout, runCommand, startCommand } from './command.js';

export type StorageMode = 'ceph' | 'plain';

/** What the last check found: `ok`, or what is wrong, for /readyz and for calls that need storage. */
export interface StorageHealth {
  status: string;
  checkedAt: Date | null;
  /** Whether storage answered (ok, or an error such as a dead mount's ENOTCONN); not while an MDS or OSD is away. */
  answering: boolean;
  /**
   * The device (major:minor) of the mount the tenants' bind mounts come from. A ceph-fuse mounted again gets a new
   * one, and containers started before keep the dead one: "Transport endpoint is not connected".
   */
  tenantDevice: string | null;
}

interface Mount {
  device: string;
  mountPoint: string;
  fsType: string;
}

/** /proc/self/mountinfo's mounts (its octal escapes undone), in mount order. Reading it never touches CephFS. */
export function parseMountinfo(text: string): Mount[] {
  const unescape = (field: string) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  return text
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      const fields = line.split(' ');
      const separator = fields.indexOf('-');
      if (separator < 6) return [];
      return [{ device: fields[2]!, mountPoint: unescape(fields[4]!), fsType: fields[separator + 1]! }];
    });
}

/** The mount `path` lies on: the deepest mount point above it, the last one mounted there. */
export function mountOf(mounts: Mount[], path: string): Mount | undefined {
  const holds = (mount: Mount) => mount.mountPoint === '/' || path === mount.mountPoint || path.startsWith(`${mount.mountPoint}/`);
  return mounts
    .filter(holds)
    .reduce<Mount | undefined>((best, mount) => (!best || mount.mountPoint.length >= best.mountPoint.length ? mount : best), undefined);
}

const isCephFs = (mount: Mount | undefined) => mount?.fsType === 'fuse.ceph-fuse' || mount?.fsType === 'ceph';

/**
 * The tenants' root answers a stat: a dead ceph-fuse fails at once (ENOTCONN). Checked on its own, so that a dead tenants'
 * mount is named even while the write check waits: the dead client's MDS session holds capabilities the daemon's write
 * then waits for until the MDS evicts it (about a minute).
 */
const TENANT_MOUNT_SCRIPT = 'stat -c %i -- "$1/." >/dev/null';

/**
 * A small file written under the daemon's root. On CephFS it is flushed through to the OSD: an MDS or OSD that is gone
 * makes the check block. A plain directory is a local disk with no MDS or OSD to lose: a file it takes is the answer, and
 * its flush is not waited for, since a busy disk takes seconds to flush (an initdb beside it) without being unavailable.
 */
const writeScript = (flush: boolean) =>
  `set -e; probe="$1/.storage-check-$$"; echo ok >"$probe"; ${flush ? 'sync "$probe"; ' : ''}rm -f "$probe"`;

/** On CephFS the daemon sets quotas and reads usage with the attr tools. */
const TOOLS_SCRIPT =
  'command -v setfattr >/dev/null && command -v getfattr >/dev/null || { echo "setfattr and getfattr are not installed (Debian package attr)" >&2; exit 1; }; ';

interface ProbeVerdict {
  status: string;
  answering: boolean;
}

/**
 * A shell check that may block on storage. While one run blocks past the timeout no other is started (it would block
 * as well): the verdict says how long it has waited.
 */
function blockingProbe(script: string, args: string[], timeoutMs: number): () => Promise<ProbeVerdict> {
  let waitingSince: Date | null = null;
  return async () => {
    if (waitingSince) {
      const seconds = Math.round((Date.now() - waitingSince.getTime()) / 1000);
      return { status: `no answer: a check has waited ${seconds} s (is the MDS or OSD down?)`, answering: false };
    }
    const command = startCommand('sh', ['-c', script, 'sh', ...args], timeoutMs);
    try {
      const result = await command.result;
      return {
        status: result.code === 0 ? 'ok' : result.stderr.trim().split('\n').at(-1) || `check exited ${result.code}`,
        answering: true,
      };
    } catch (error) {
      if (!(error instanceof CommandTimeout)) return { status: String(error), answering: true };
      waitingSince = new Date(Date.now() - timeoutMs);
      void command.exited.then(() => (waitingSince = null));
      return { status: `no answer within ${timeoutMs} ms (is the MDS or OSD down?)`, answering: false };
    }
  };
}

export interface StorageMonitorOptions {
  mode: StorageMode;
  root: string;
  tenantRoot: string;
  timeoutMs: number;
  mountinfo?: () => Promise<string>;
}

/** Checks, on demand, that storage answers; keeps the last verdict. One check at a time: callers share the one running. */
export function createStorageMonitor(options: StorageMonitorOptions) {
  const mountinfo = options.mountinfo ?? (() => readFile('/proc/self/mountinfo', 'utf8'));
  let health: StorageHealth = { status: 'not checked yet', checkedAt: null, answering: false, tenantDevice: null };
  let running: Promise<StorageHealth> | null = null;
  const tenantMountAnswers = blockingProbe(TENANT_MOUNT_SCRIPT, [options.tenantRoot], options.timeoutMs);
  const writeCheck = blockingProbe(
    options.mode === 'ceph' ? TOOLS_SCRIPT + writeScript(true) : writeScript(false),
    [options.root],
    options.timeoutMs,
  );

  async function probe(): Promise<Omit<StorageHealth, 'checkedAt'>> {
    let tenantDevice: string | null = null;
    if (options.mode === 'ceph') {
      const mounts = parseMountinfo(await mountinfo());
      for (const [name, path] of [
        ['CEPHFS_ROOT', options.root],
        ['CEPHFS_TENANT_ROOT', options.tenantRoot],
      ] as const) {
        const mount = mountOf(mounts, path);
        if (!isCephFs(mount)) {
          const status = `${name} ${path} is not on CephFS (it is on ${mount?.fsType ?? 'nothing'} at ${mount?.mountPoint ?? '?'})`;
          return { status, answering: true, tenantDevice };
        }
        if (path === options.tenantRoot) tenantDevice = mount!.device;
      }
    }
    const tenantMount = await tenantMountAnswers();
    if (tenantMount.status !== 'ok') return { ...tenantMount, tenantDevice };
    return { ...(await writeCheck()), tenantDevice };
  }

  const check = (): Promise<StorageHealth> => {
    running ??= probe()
      .then((found) => (health = { ...found, checkedAt: new Date() }))
      .finally(() => (running = null));
    return running;
  };

  return { current: () => health, check };
}

export type StorageMonitor = ReturnType<typeof createStorageMonitor>;

/**
 * Of the paths given (tenants' data dirs as their containers see them, through /proc/<pid>/root), those whose mount is
 * dead: "Transport endpoint is not connected". Paths that are gone (the container ended) are not. Throws when the
 * check gives no answer in time.
 */
export async function deadMounts(paths: string[], timeoutMs: number): Promise<Set<string>> {
  if (paths.length === 0) return new Set();
  const script =
    'for path; do if ! error=$(stat -c %i -- "$path" 2>&1 >/dev/null); then case "$error" in *"not connected"*) printf "%s\\n" "$path";; esac; fi; done';
  const result = await runCommand('sh', ['-c', script, 'sh', ...paths], timeoutMs);
  return new Set(result.stdout.split('\n').filter((line) => paths.includes(line)));
}
