import { mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { holderOf, tryClaim } from './claims.js';

/**
 * `npm test` runs suites side by side. Each test process claims one of the run's slots (scripts/test.sh makes them)
 * and takes that slot's control database, Redis database and CephFS root (a directory of its own in the mounted tree,
 * seen through both mounts: CEPHFS_ROOT and CEPHFS_TENANT_ROOT), so no two suites running at once share
 * state; Docker objects are told apart by the run label each process makes (harness.ts). Run alone, outside
 * scripts/test.sh, a suite keeps the environment it was given.
 */
export interface TestSlot {
  index: number;
  databaseUrl: string;
  redisUrl: string;
  cephfsRoot: string;
  cephfsTenantRoot: string;
}

const withDatabase = (url: string, database: string) => {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
};

const releaseAtExit = (file: string) =>
  process.once('exit', () => {
    try {
      unlinkSync(file);
    } catch {
      // Already gone: a later claimant took it over.
    }
  });

/** Where a suite that wants every service to itself has announced it: new suites wait while it exists. */
const exclusiveFile = (dir: string) => join(dir, 'exclusive');

async function claimSlot(env: NodeJS.ProcessEnv): Promise<TestSlot | null> {
  const dir = env.TEST_SLOTS_DIR;
  if (!dir) return null;
  const count = Number(env.TEST_SLOTS);
  const redisBase = Number(env.TEST_SLOT_REDIS_BASE);
  const databasePrefix = env.TEST_SLOT_DATABASE_PREFIX;
  if (!(count > 0) || !(redisBase >= 0) || !databasePrefix || !env.DATABASE_URL || !env.REDIS_URL || !env.CEPHFS_ROOT) {
    throw new Error('TEST_SLOTS_DIR is set without TEST_SLOTS, TEST_SLOT_REDIS_BASE, TEST_SLOT_DATABASE_PREFIX and the base environment');
  }
  mkdirSync(dir, { recursive: true });
  for (;;) {
    for (let index = 0; index < count && holderOf(exclusiveFile(dir)) === null; index++) {
      const file = join(dir, `slot-${index}`);
      if (!tryClaim(file)) continue;
      releaseAtExit(file);
      const redis = new URL(env.REDIS_URL);
      redis.pathname = `/${redisBase + index}`;
      return {
        index,
        databaseUrl: withDatabase(env.DATABASE_URL, `${databasePrefix}_${index}`),
        redisUrl: redis.toString(),
        cephfsRoot: `${env.CEPHFS_ROOT}-${index}`,
        cephfsTenantRoot: `${env.CEPHFS_TENANT_ROOT ?? env.CEPHFS_ROOT}-${index}`,
      };
    }
    await sleep(200);
  }
}

/** This process's slot, already applied to process.env (null when run outside scripts/test.sh). */
export const testSlot = await claimSlot(process.env);
if (testSlot) {
  process.env.DATABASE_URL = testSlot.databaseUrl;
  process.env.REDIS_URL = testSlot.redisUrl;
  process.env.CEPHFS_ROOT = testSlot.cephfsRoot;
  process.env.CEPHFS_TENANT_ROOT = testSlot.cephfsTenantRoot;
  // Not recursive: the run's directory exists (scripts/test.sh); one missing means CephFS is not mounted.
  try {
    mkdirSync(testSlot.cephfsRoot);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/** Waits until this process holds the run's lock `name` (say, `pools`: one suite at a time provisions pools). */
export async function holdLock(name: string): Promise<void> {
  const dir = process.env.TEST_SLOTS_DIR;
  if (!dir || !testSlot) return;
  const file = join(dir, `lock-${name}`);
  while (!tryClaim(file)) await sleep(250);
  releaseAtExit(file);
}

/**
 * Waits until no other suite runs and none starts, for a suite that stops or freezes the shared services
 * (PostgreSQL, Redis, dockerd): everything else would fail meanwhile.
 */
export async function holdExclusive(): Promise<void> {
  const dir = process.env.TEST_SLOTS_DIR;
  if (!dir || !testSlot) return;
  // Suites queued here are not running either: the one that holds the lock does not wait for them.
  const queued = join(dir, `queued-${process.pid}`);
  tryClaim(queued);
  releaseAtExit(queued);
  while (!tryClaim(exclusiveFile(dir))) await sleep(250);
  releaseAtExit(exclusiveFile(dir));
  unlinkSync(queued);
  const running = () =>
    Array.from({ length: Number(process.env.TEST_SLOTS) }, (_, index) => holderOf(join(dir, `slot-${index}`))).filter(
      (pid) => pid !== null && pid !== process.pid && holderOf(join(dir, `queued-${pid}`)) === null,
    );
  while (running().length > 0) await sleep(250);
}
