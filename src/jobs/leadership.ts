import pg from 'pg';
import type { Deps } from '../deps.js';

/** Any constant: every daemon replica on this database competes for the same advisory lock. */
const LEADER_LOCK_KEY = 7_224_031_915;

/** Connecting, and each check on the leader's connection, must answer within this. */
const LEADER_TIMEOUT_MS = 5000;

export interface Leadership {
  isLeader: () => boolean;
  /** Gives up leadership (stopping the leader's work first) and stops competing. */
  stop: () => Promise<void>;
}

export interface LeaderWork {
  start: () => void;
  stop: () => Promise<void>;
}

/**
 * Runs `work` on exactly one replica: the one holding a session-level advisory lock on a dedicated connection.
 * When that connection ends (the leader stops or dies), PostgreSQL frees the lock and another replica takes it on
 * its next try, `retryMs` later at most.
 */
export function startLeadership(deps: Deps, work: LeaderWork, retryMs: number): Leadership {
  let client: pg.Client | null = null;
  let leader = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  /** Never rejects: it runs from error handlers and timers, where a rejection would end the process. */
  const resign = async (reason: string) => {
    if (leader) {
      leader = false;
      deps.log.warn({ event: 'leader.lost', reason }, 'leadership lost');
      await work
        .stop()
        .catch((error: unknown) => deps.log.error({ event: 'leader.stop_failed', err: error }, 'leader work did not stop cleanly'));
    }
    const ending = client;
    client = null;
    await ending?.end().catch(() => undefined);
  };

  const tick = async () => {
    try {
      if (!client) {
        // Keepalive notices a vanished server; the timeouts keep a hung one from stalling the check (and so the scheduler).
        const next = new pg.Client({
          connectionString: deps.config.databaseUrl,
          application_name: 'odoo-orchestrator-leader',
          keepAlive: true,
          keepAliveInitialDelayMillis: 5000,
          connectionTimeoutMillis: LEADER_TIMEOUT_MS,
          query_timeout: LEADER_TIMEOUT_MS,
          statement_timeout: LEADER_TIMEOUT_MS,
        });
        next.on('error', (error) => {
          if (client === next) void resign(`leader connection failed: ${error.message}`);
        });
        await next.connect();
        client = next;
      }
      if (leader) {
        await client.query('select 1');
      } else {
        const { rows } = await client.query<{ acquired: boolean }>('select pg_try_advisory_lock($1) as acquired', [LEADER_LOCK_KEY]);
        if (rows[0]?.acquired && !stopped) {
          leader = true;
          work.start();
          deps.log.info({ event: 'leader.acquired' }, 'this replica leads: scheduler started');
        }
      }
    } catch (error) {
      await resign(`leader check failed: ${(error as Error).message}`);
    }
    // stop() may have run while this tick awaited: then nothing it opened may outlive it.
    if (stopped) await resign('daemon stopping');
    else timer = setTimeout(() => void tick(), retryMs);
  };
  void tick();

  return {
    isLeader: () => leader,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await resign('daemon stopping');
    },
  };
}
