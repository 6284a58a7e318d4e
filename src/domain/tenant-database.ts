import pg from 'pg';
import type { Deps } from '../deps.js';
import { tenantDatabaseName, tenantRoleName } from './names.js';
import { poolAdminAccess, poolOfInstance } from './pools.js';

const CONNECT_TIMEOUT_MS = 5_000;
const QUERY_TIMEOUT_MS = 60_000;

/**
 * Runs `work` inside the tenant's own database as its role: the pool admin logs in (it is a member of every role
 * allocation made) and sets the role, so what it writes is owned and allowed as if Odoo wrote it. The daemon never
 * needs the tenant's password for this. The connection is always closed.
 */
export async function withTenantDatabase<T>(
  deps: Pick<Deps, 'db' | 'config'>,
  instance: { id: string; db_server_id: string | null },
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const access = poolAdminAccess(await poolOfInstance(deps.db, instance), deps.config.masterKey);
  const client = new pg.Client({
    host: access.host,
    port: access.port,
    user: access.adminUser,
    password: access.adminPassword,
    database: tenantDatabaseName(instance.id),
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    application_name: 'odoo-orchestrator',
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(`set role ${client.escapeIdentifier(tenantRoleName(instance.id))}`);
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
