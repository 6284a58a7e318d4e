/**
 * CephFS under the tenants (CEPHFS_ROOT, scripts/env/ceph.sh): what a backup's snapshot of a 100 MB filestore costs,
 * right after the files were written (the client flushes them first) and when quiet, beside a plain `mkdir` in the
 * same directory; and how long `ceph.dir.rbytes` of a tenant's data dir trails a write two levels below it (as
 * Odoo's filestore lays files out), closed without and with fsync, beside the file's own size (at once).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

const root = process.env.CEPHFS_ROOT;
if (!root || process.env.CEPHFS_MODE === 'plain') {
  console.log('storage bench: CephFS only (CEPHFS_MODE=plain here)');
  process.exit(0);
}
const runs = Number(process.argv[2] ?? 5);
const MB = 2 ** 20;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const timed = async (work: () => Promise<unknown>) => {
  const started = performance.now();
  await work();
  return performance.now() - started;
};
const rbytes = (dir: string) =>
  Number(execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', 'ceph.dir.rbytes', '--', dir]).toString());

const tenant = join(root, `bench-storage-${process.pid}`);
const filestore = join(tenant, 'filestore', 'db');
await mkdir(filestore, { recursive: true });
try {
  const afterWrite: number[] = [];
  const quiet: number[] = [];
  const plain: number[] = [];
  for (let index = 0; index < 100; index++) {
    await mkdir(join(filestore, index.toString(16).padStart(2, '0')), { recursive: true });
    await writeFile(join(filestore, index.toString(16).padStart(2, '0'), `f${index}`), randomBytes(MB));
  }
  for (let run = 0; run < runs; run++) {
    // Each run rewrites one 10 MB file first: the snapshot after it waits for the client to flush.
    await writeFile(join(filestore, 'churn'), randomBytes(10 * MB));
    afterWrite.push(await timed(() => mkdir(join(tenant, '.snap', `write-${run}`))));
    await rmdir(join(tenant, '.snap', `write-${run}`));
    await sleep(200);
    quiet.push(await timed(() => mkdir(join(tenant, '.snap', `quiet-${run}`))));
    await rmdir(join(tenant, '.snap', `quiet-${run}`));
    plain.push(await timed(() => mkdir(join(tenant, `plain-${run}`))));
  }
  const baseline = median(plain);
  console.log(
    `snapshot of a 100 MB filestore (median of ${runs}), beside a plain mkdir in the same directory (${baseline.toFixed(1)} ms):`,
  );
  console.log(
    `  right after a 10 MB write  ${median(afterWrite).toFixed(1).padStart(7)} ms  ${(median(afterWrite) / baseline).toFixed(1)}x`,
  );
  console.log(`  quiet                      ${median(quiet).toFixed(1).padStart(7)} ms  ${(median(quiet) / baseline).toFixed(1)}x`);

  // The data dir's count settles first (the writes above trail it by seconds); each write is measured from it.
  const settled = async (wanted?: number) => {
    for (let last = -1; ; await sleep(500)) {
      const now = rbytes(tenant);
      if (wanted === undefined ? now === last : now === wanted) return now;
      last = now;
    }
  };
  const base = await settled();
  for (const fsync of [false, true]) {
    const lags: number[] = [];
    for (let run = 0; run < Math.min(runs, 3); run++) {
      const file = join(filestore, '0a', `lag-${fsync}-${run}`);
      const written = Date.now();
      const handle = await open(file, 'w');
      await handle.write(randomBytes(4 * MB));
      if (fsync) await handle.sync();
      await handle.close();
      while (rbytes(tenant) !== base + 4 * MB && Date.now() - written < 60_000) await sleep(50);
      lags.push(Date.now() - written);
      await rm(file);
      await settled(base);
    }
    console.log(
      `rbytes of the data dir shows a 4 MB write two levels below, ${fsync ? 'fsynced' : 'closed '}: ${median(lags)} ms later (its own size: at once)`,
    );
  }
} finally {
  await rm(tenant, { recursive: true, force: true });
}
