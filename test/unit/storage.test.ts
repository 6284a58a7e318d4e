import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { planInput } from '../../src/domain/instances/plans.js';
import { formatBytes } from '../../src/domain/sizes.js';
import { isOverLimit } from '../../src/domain/instances/storage-usage.js';
import { createStorageMonitor, mountOf, parseMountinfo } from '../../src/storage/monitor.js';

const env = {
  DATABASE_URL: 'postgres://u:p@localhost:5432/db',
  REDIS_URL: 'redis://localhost:6379/0',
  ADMIN_TOKEN: 'a'.repeat(32),
  MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
};

const MOUNTINFO = [
  '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '40 22 0:40 / /mnt/cephfs rw,nosuid,nodev,relatime - fuse.ceph-fuse ceph-fuse rw,user_id=0,group_id=0,allow_other',
  '41 22 0:41 / /mnt/cephfs-tenants rw,nosuid,nodev,relatime - fuse.ceph-fuse ceph-fuse rw,user_id=0,group_id=0,allow_other',
  '42 22 0:42 / /mnt/with\\040space rw - tmpfs tmpfs rw',
].join('\n');

describe('storage', () => {
  it('finds the mount a path lies on, the deepest one; a sibling with the same prefix is not it', () => {
    const mounts = parseMountinfo(MOUNTINFO);
    assert.deepEqual(mountOf(mounts, '/mnt/cephfs/test/abc-0'), { device: '0:40', mountPoint: '/mnt/cephfs', fsType: 'fuse.ceph-fuse' });
    assert.equal(mountOf(mounts, '/mnt/cephfs-tenants/dev')?.device, '0:41');
    assert.equal(mountOf(mounts, '/mnt/cephfsx/dev')?.fsType, 'ext4', 'not below /mnt/cephfs');
    assert.equal(mountOf(mounts, '/mnt/with space/x')?.fsType, 'tmpfs');
  });

  it('counts filestore and database against the limit, never backups; nothing measured is never over', () => {
    assert.equal(isOverLimit(100, { filestore: 60, database: 50, backups: 1000 }), true);
    assert.equal(isOverLimit(100, { filestore: 60, database: 40, backups: 1000 }), false);
    assert.equal(
      isOverLimit(100, { filestore: null, database: 101, backups: null }),
      true,
      'on a plain directory the database still counts',
    );
    assert.equal(isOverLimit(null, { filestore: 1e12, database: 1e12, backups: 0 }), false, 'no limit');
    assert.equal(isOverLimit(100, { filestore: null, database: null, backups: null }), false);
  });

  it('takes a plan storage limit as a size in bytes (binary units), optional, within 10M and 1024T', () => {
    const parse = (storageLimit?: string) => planInput.safeParse({ name: 'p', cpuLimit: 1, memoryLimit: '1G', storageLimit });
    assert.equal(parse('10G').data?.storageLimit, 10 * 2 ** 30);
    assert.equal(parse('500M').data?.storageLimit, 500 * 2 ** 20);
    assert.equal(parse(undefined).data?.storageLimit, undefined);
    for (const bad of ['10', '10GB', '1M', '2000T', '-1G']) assert.equal(parse(bad).success, false, bad);
    assert.deepEqual(
      [formatBytes(10 * 2 ** 30), formatBytes(2 ** 40), formatBytes(1536 * 2 ** 20), formatBytes(1000)],
      ['10G', '1T', '1536M', '1000'],
    );
  });

  it('reads the storage settings: CephFS by default, the tenant root the daemon root unless given, warn over the limit', () => {
    const config = loadConfig({ ...env, CEPHFS_ROOT: '/mnt/cephfs/dev/' });
    assert.deepEqual(
      [config.storage.mode, config.cephfsRoot, config.storage.tenantRoot, config.storage.overLimit],
      ['ceph', '/mnt/cephfs/dev', '/mnt/cephfs/dev', 'warn'],
    );
    const plain = loadConfig({ ...env, CEPHFS_MODE: 'plain', CEPHFS_TENANT_ROOT: '/mnt/tenants/', STORAGE_OVER_LIMIT: 'suspend' });
    assert.deepEqual([plain.storage.mode, plain.storage.tenantRoot, plain.storage.overLimit], ['plain', '/mnt/tenants', 'suspend']);
    assert.throws(
      () => loadConfig({ ...env, CEPHFS_MODE: 'nfs', CEPHFS_TENANT_ROOT: 'relative', STORAGE_CHECK_SECONDS: '60' }),
      (error: Error & { problems?: string[] }) =>
        ['CEPHFS_MODE', 'CEPHFS_TENANT_ROOT', 'STORAGE_CHECK_SECONDS'].every(
          (name) => error.problems?.some((line) => line.startsWith(`${name}:`)) ?? false,
        ),
    );
  });

  it('finds a plain directory that takes a file available, leaving nothing in it; a missing one is named', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'storage-check-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const plain = createStorageMonitor({ mode: 'plain', root, tenantRoot: root, timeoutMs: 3000 });
    assert.equal((await plain.check()).status, 'ok');
    assert.deepEqual(await readdir(root), [], 'the check file is removed');

    const missing = join(root, 'missing');
    const gone = await createStorageMonitor({ mode: 'plain', root: missing, tenantRoot: missing, timeoutMs: 3000 }).check();
    assert.match(gone.status, /No such file or directory/);
    assert.equal(gone.answering, true, 'an error is an answer, not a hang');
  });
});
