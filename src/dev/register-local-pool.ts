import { loadConfig } from '../config/config.js';
import { closeDeps, connectDeps } from '../daemon.js';
import { migrateToLatest } from '../db/migrate.js';
import { registerPool } from '../domain/pools/pools.js';
import { createLogger } from '../logger.js';

/** `npm run dev`: registers this machine's PostgreSQL (reachable by Odoo tasks through docker_gwbridge) as a pool. */
const config = loadConfig();
const deps = connectDeps(config, createLogger('warn'));
try {
  await migrateToLatest(deps.db);
  const pool = await registerPool(deps, {
    name: process.env.LOCAL_POOL_NAME ?? 'local-pool',
    host: process.env.POOL_HOST ?? '127.0.0.1',
    port: 5432,
    adminUser: process.env.POOL_ADMIN_USER ?? 'pool_admin',
    adminPassword: process.env.POOL_ADMIN_PASSWORD ?? '',
    maxInstances: Number(process.env.LOCAL_POOL_MAX_INSTANCES ?? 50),
  });
  process.stdout.write(
    `pool ${pool.name} (${pool.host}:${pool.port}) is ${pool.status} with ${pool.max_instances - pool.current_instances} free slots\n`,
  );
} finally {
  await closeDeps(deps);
}
