import pg from 'pg';
import { unsealSecret } from '../crypto/secret-box.js';
import type { PoolStatus } from './schema.js';
import type { Logger } from '../logger.js';
import { withPoolAdmin, type AdminClient } from './pool-server.js';
import { isInService, type PoolAccess } from './pool-access.js';

export interface PoolConnectionsOptions {
  masterKey: Buffer;
  /** Connections per pool server at most; callers beyond wait their turn (up to `connectTimeoutMs`). */
  max: number;
  idleMs: number;
  connectTimeoutMs: number;
  queryTimeoutMs: number;
  log: Logger;
}

/** Kept admin connections to each pool server, so an allocation pays no login: the pool's own DDL is the cost. */
export interface PoolConnections {
  /** Runs `work` on one of the pool's admin connections; a connection that broke is closed rather than lent again. */
  use<T>(pool: PoolAccess, work: (client: AdminClient) => Promise<T>): Promise<T>;
  /** Runs `work` on a fresh admin connection to another database of the pool (say, a tenant's just made); always closed. */
  inDatabase<T>(pool: PoolAccess, database: string, work: (client: AdminClient) => Promise<T>): Promise<T>;
  /** Closes the connections of every pool not among `pools` as they read now (gone, or another password or status). */
  retain(pools: PoolAccess[]): Promise<void>;
  /** Closes one pool's connections (say, after its health probe failed). */
  drop(poolId: string): Promise<void>;
  /** Connections per pool: open, idle, and callers waiting for one. */
  stats(): { poolId: string; total: number; idle: number; waiting: number }[];
  close(): Promise<void>;
}

/** `active` and `full` differ only in whether a new slot fits: the same server, reached the same way. */
const serviceClass = (status: PoolStatus): string => (isInService(status) ? 'in-service' : status);

/** What the connections were opened with: when a pool's row no longer matches, they are closed. */
const fingerprint = (pool: PoolAccess): string =>
  JSON.stringify([pool.host, pool.port, pool.admin_user, pool.admin_password_encrypted, serviceClass(pool.status)]);

interface Entry {
  fingerprint: string;
  pool: pg.Pool;
}

/** A pg error with a SQLSTATE came from the server over a working connection; anything else may have broken it. */
const connectionSurvives = (error: unknown): boolean => error instanceof pg.DatabaseError;

export function createPoolConnections(options: PoolConnectionsOptions): PoolConnections {
  const entries = new Map<string, Entry>();

  const retire = async (poolId: string, reason: string): Promise<void> => {
    const entry = entries.get(poolId);
    if (!entry) return;
    entries.delete(poolId);
    options.log.debug({ event: 'pool.connections_closed', poolId, reason }, 'pool admin connections closed');
    // Connections lent out close when they come back.
    await entry.pool.end().catch(() => undefined);
  };

  const entryFor = (row: PoolAccess): Entry => {
    const wanted = fingerprint(row);
    const current = entries.get(row.id);
    if (current?.fingerprint === wanted) return current;
    if (current) void retire(row.id, 'pool changed');
    const pool = new pg.Pool({
      host: row.host,
      port: row.port,
      user: row.admin_user,
      password: unsealSecret(row.admin_password_encrypted, options.masterKey),
      database: 'postgres',
      max: options.max,
      idleTimeoutMillis: options.idleMs,
      connectionTimeoutMillis: options.connectTimeoutMs,
      query_timeout: options.queryTimeoutMs,
      application_name: 'odoo-orchestrator',
    });
    // An idle connection the server closed: pg-pool drops it; without a listener Node would exit.
    pool.on('error', (error) =>
      options.log.warn({ event: 'pool.connection_error', poolId: row.id, reason: error.message }, 'pool admin connection lost'),
    );
    const entry = { fingerprint: wanted, pool };
    entries.set(row.id, entry);
    return entry;
  };

  return {
    async use(row, work) {
      const client = await entryFor(row).pool.connect();
      let broken: Error | undefined;
      try {
        return await work(client);
      } catch (error) {
        if (!connectionSurvives(error)) broken = error instanceof Error ? error : new Error(String(error));
        throw error;
      } finally {
        client.release(broken);
      }
    },
    inDatabase: (row, database, work) =>
      withPoolAdmin(
        {
          host: row.host,
          port: row.port,
          adminUser: row.admin_user,
          adminPassword: unsealSecret(row.admin_password_encrypted, options.masterKey),
        },
        work,
        options.connectTimeoutMs,
        database,
      ),
    async retain(pools) {
      const current = new Map(pools.map((pool) => [pool.id, fingerprint(pool)]));
      const stale = [...entries].filter(([poolId, entry]) => current.get(poolId) !== entry.fingerprint).map(([poolId]) => poolId);
      await Promise.all(stale.map((poolId) => retire(poolId, current.has(poolId) ? 'pool changed' : 'pool out of service')));
    },
    drop: (poolId) => retire(poolId, 'dropped'),
    stats: () =>
      [...entries].map(([poolId, { pool }]) => ({ poolId, total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount })),
    async close() {
      await Promise.all([...entries.keys()].map((poolId) => retire(poolId, 'daemon stopping')));
    },
  };
}
