import pg from 'pg';
import { tenantDatabaseName } from '../names.js';
import { poolOfInstance } from '../pools/pools.js';
import { withTenantLogin, type LoginDeps } from './tenant-login.js';

const CONNECT_TIMEOUT_MS = 5_000;
const QUERY_TIMEOUT_MS = 60_000;

/**
 * Runs `work` inside the tenant's own database as its maintenance login acting as the tenant's role: what it writes
 * is owned and allowed as if Odoo wrote it, and what the tenant's objects run meanwhile has the tenant's rights
 * alone (never the pool admin's). The connection is always closed.
 */
export async function withTenantDatabase<T>(
  deps: LoginDeps,
  instance: { id: string; db_server_id: string | null },
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const pool = await poolOfInstance(deps.db, instance);
  const { client, tenantRole } = await withTenantLogin(deps, instance, async (login) => {
    const attempt = new pg.Client({
      host: pool.host,
      port: pool.port,
      user: login.user,
      password: login.password,
      database: tenantDatabaseName(instance.id),
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      application_name: 'odoo-orchestrator',
    });
    attempt.on('error', () => undefined);
    await attempt.connect();
    return { client: attempt, tenantRole: login.tenantRole };
  });
  try {
    await client.query(`set role ${client.escapeIdentifier(tenantRole)}`);
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
