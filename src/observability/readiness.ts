import { sql } from 'kysely';
import { migrations } from '../../migrations/index.js';
import type { Deps } from '../deps.js';
import { NOT_CONFIGURED, offsiteReadiness } from '../domain/offsite/offsite-start.js';
import { storageModeNote } from '../storage/storage.js';

export interface Readiness {
  ready: boolean;
  /** Each dependency: `ok`, or what is wrong with it. */
  checks: Record<string, string>;
  /** What the caller should know besides: the kind of storage (`cephfs`, or a plain directory without quotas). */
  notes: Record<string, string>;
}

const within = <T>(ms: number, work: Promise<T>): Promise<T> =>
  Promise.race([work, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);

async function check(work: () => Promise<unknown>): Promise<string> {
  try {
    await within(2000, work());
    return 'ok';
  } catch (error) {
    // A handle's SERVICE_UNAVAILABLE carries the bare reason (see errors.ts `unavailable`).
    return (error as { reason?: string }).reason ?? ((error as Error).message || String(error));
  }
}

/**
 * Ready when PostgreSQL (with every migration applied), Redis, Docker and the tenants' storage answer. Storage's is the
 * watcher's last check (every STORAGE_CHECK_SECONDS): a check of a storage whose MDS is gone blocks until its timeout.
 * Off-site storage is named too, but does not make the daemon unready: everything else works without it, and uploads
 * wait for it.
 */
export async function readiness(deps: Deps): Promise<Readiness> {
  const [postgres, redis, docker, offsite] = await Promise.all([
    check(async () => {
      const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(deps.db);
      const names = new Set(applied.rows.map((row) => row.name));
      const pending = Object.keys(migrations).filter((name) => !names.has(name));
      if (pending.length > 0) throw new Error(`migrations not applied: ${pending.join(', ')}`);
    }),
    // Commands are refused while disconnected (no offline queue): the connection's state says why.
    check(() => (deps.redis.status === 'ready' ? deps.redis.ping() : Promise.reject(new Error(`not connected (${deps.redis.status})`)))),
    check(() => deps.docker.ping()),
    deps.offsite ? check(() => offsiteReadiness(deps)) : NOT_CONFIGURED,
  ]);
  const required = { postgres, redis, docker, storage: deps.storage.health().status };
  return {
    ready: Object.values(required).every((result) => result === 'ok'),
    checks: { ...required, offsite },
    notes: { storageMode: storageModeNote(deps.storage.mode) },
  };
}
