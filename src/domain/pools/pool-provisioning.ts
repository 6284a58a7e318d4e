import { readdir } from 'node:fs/promises';
import type { Transaction } from 'kysely';
import { z } from 'zod';
import { generatePassword } from '../../crypto/passwords.js';
import { sealSecret } from '../../crypto/secret-box.js';
import type { Database, PoolProvisionReason, PoolRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { DomainError } from '../../errors.js';
import { ensureDirUnder } from '../../storage/dirs.js';
import { poolLabels } from '../../swarm/labels.js';
import { POOL_STOP_GRACE_SECONDS, poolDataDir, postgresPoolServiceSpec } from '../../swarm/postgres-service.js';
import { withReservationPolicy } from '../../swarm/reservations.js';
import { createService, ensureSecret, removeSecret, removeService, removeServiceAndWait, swarmNodeCount } from '../../swarm/swarm.js';
import { addProvisioningPool, failPool, recordPoolService, reprovisionPool } from './pool-state.js';
import { poolAdminAccess } from './pools.js';
import { cpuCores, memorySize } from '../sizes.js';
import { parseInput } from '../validation.js';

export const provisionPoolInput = z.object({
  maxInstances: z.number().int().min(1, 'must be at least 1').max(10_000, 'must be at most 10000'),
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,40}$/, 'must be 1-41 lower-case letters, digits or dashes, starting with a letter or digit')
    .nullish(),
  cpuLimit: cpuCores(0.25, 64).nullish(),
  memoryLimit: memorySize(256, 1024 * 1024).nullish(),
  priority: z.number().int().min(0, 'must be between 0 and 1000').max(1000, 'must be between 0 and 1000').nullish(),
});
export type ProvisionPoolInput = z.input<typeof provisionPoolInput>;

const POSTGRES_PORT = 5432;
const poolSecretName = (poolName: string) => `${poolName}-admin-password`;

/**
 * Makes a PostgreSQL pool as a Swarm service on CephFS. The row comes first (status `provisioning`), its name and
 * published port reserved in that transaction; the pool becomes `active` only once the daemon has logged in as
 * its admin (the pool-provisioning job). Naming an `error` pool provisions it again in place, under that name.
 * For growth, returns null when a pool is already being made for that reason.
 */
export async function provisionPool(
  deps: Deps,
  rawInput: ProvisionPoolInput,
  reason: PoolProvisionReason = 'admin',
): Promise<PoolRow | null> {
  const input = parseInput(provisionPoolInput, rawInput);
  const reserved = await deps.db.transaction().execute((trx) => reservePool(trx, deps, input, reason));
  if (!reserved?.fresh) return reserved?.pool ?? null;
  deps.log.info({ event: 'pool.provisioning', poolId: reserved.pool.id, pool: reserved.pool.name, reason }, 'pool provisioning');
  return startPoolService(deps, reserved.pool);
}

async function reservePool(
  trx: Transaction<Database>,
  deps: Deps,
  input: z.output<typeof provisionPoolInput>,
  reason: PoolProvisionReason,
): Promise<{ pool: PoolRow; fresh: boolean } | null> {
  // Every reservation holds the counter row, so numbers, ports and the one-growth rule are decided one at a time.
  const { last_number } = await trx.selectFrom('pool_name_counter').select('last_number').forUpdate().executeTakeFirstOrThrow();
  if (reason === 'growth') {
    const inFlight = await trx
      .selectFrom('db_servers')
      .select('id')
      .where('status', '=', 'provisioning')
      .where('provision_reason', '=', 'growth')
      .executeTakeFirst();
    if (inFlight) return null;
  }

  const sizing = {
    max_instances: input.maxInstances,
    cpu_limit: input.cpuLimit ?? deps.config.pools.growth.cpuLimit,
    memory_limit_mb: input.memoryLimit ?? deps.config.pools.growth.memoryLimitMb,
    priority: input.priority ?? 100,
  };
  if (input.name) {
    const existing = await trx.selectFrom('db_servers').selectAll().where('name', '=', input.name).forUpdate().executeTakeFirst();
    if (existing?.server_type === 'provisioned' && existing.status === 'error') {
      const retried = await reprovisionPool(trx, existing, sizing);
      return { pool: retried, fresh: true };
    }
    if (existing?.server_type === 'provisioned' && existing.max_instances === input.maxInstances) return { pool: existing, fresh: false };
    if (existing) throw new DomainError('CONFLICT', `A pool named ${input.name} already exists.`, 'input.name');
    if (await holdsData(poolDataDir(deps.config.cephfsRoot, input.name))) {
      throw new DomainError(
        'CONFLICT',
        `${poolDataDir(deps.config.cephfsRoot, input.name)} already holds a database of another pool; choose another name or remove it.`,
        'input.name',
      );
    }
  }

  let name = input.name;
  if (!name) {
    let number = last_number;
    do {
      number += 1;
      name = `postgres-pool-${number}`;
    } while (await trx.selectFrom('db_servers').select('id').where('name', '=', name).executeTakeFirst());
    await trx.updateTable('pool_name_counter').set({ last_number: number }).execute();
  }

  const publishedPort = deps.config.pools.accessMode === 'published' ? await freePublishedPort(trx, deps) : null;
  const pool = await addProvisioningPool(trx, {
    ...sizing,
    name,
    host: publishedPort === null ? name : deps.config.pools.publishedHost,
    port: publishedPort ?? POSTGRES_PORT,
    tenant_host: name,
    tenant_port: POSTGRES_PORT,
    published_port: publishedPort,
    provision_reason: reason,
    admin_user: deps.config.pools.adminUser,
    admin_password_encrypted: sealSecret(generatePassword(32), deps.config.masterKey),
  });
  return { pool, fresh: true };
}

const holdsData = async (dir: string) => (await readdir(dir).catch(() => [])).length > 0;

async function freePublishedPort(trx: Transaction<Database>, deps: Deps): Promise<number> {
  const { first, last } = deps.config.pools.publishedPorts;
  const taken = new Set(
    (await trx.selectFrom('db_servers').select('published_port').where('published_port', 'is not', null).execute()).map(
      (row) => row.published_port,
    ),
  );
  for (let port = first; port <= last; port++) if (!taken.has(port)) return port;
  throw new DomainError('CONFLICT', `No published port is free in ${first}-${last} (POOL_PUBLISHED_PORTS).`);
}

/** Creates (or finds, after an interruption) the pool's secret, data directory and service. */
export async function startPoolService(deps: Deps, pool: PoolRow): Promise<PoolRow> {
  try {
    const labels = poolLabels(pool.id, deps.config.dockerLabels);
    const secret = await ensureSecret(
      deps.docker,
      poolSecretName(pool.name),
      poolAdminAccess(pool, deps.config.masterKey).adminPassword,
      labels,
    );
    deps.storage.assertAvailable();
    await ensureDirUnder(
      deps.storage.root,
      poolDataDir(deps.storage.root, pool.name),
      deps.config.pools.postgresUid,
      deps.config.pools.postgresUid,
    );
    const serviceId = await createService(
      deps.docker,
      withReservationPolicy(
        postgresPoolServiceSpec({
          pool: {
            id: pool.id,
            name: pool.name,
            maxInstances: pool.max_instances,
            cpuLimit: pool.cpu_limit ?? deps.config.pools.growth.cpuLimit,
            memoryLimitMb: pool.memory_limit_mb ?? deps.config.pools.growth.memoryLimitMb,
          },
          serviceName: pool.name,
          image: deps.config.postgresPoolImage,
          network: deps.config.swarmNetwork,
          cephfsRoot: deps.storage.tenantRoot,
          adminUser: pool.admin_user,
          secret,
          publishedPort: pool.published_port,
          placementConstraints: await placementConstraints(deps),
          postgresUid: deps.config.pools.postgresUid,
          extraLabels: deps.config.dockerLabels,
        }),
        deps.config.swarmReservations,
      ),
    );
    return await recordPoolService(deps.db, pool, serviceId);
  } catch (error) {
    return failPoolProvisioning(deps, pool, `Docker refused the pool service: ${(error as Error).message}`);
  }
}

/** On a single-node swarm there is no other node to place a pool on, so labels that no node carries are dropped. */
async function placementConstraints(deps: Deps): Promise<string[]> {
  const wanted = deps.config.pools.placementConstraints;
  if (wanted.length === 0) return wanted;
  return (await swarmNodeCount(deps.docker)) > 1 ? wanted : [];
}

/** Removes what the failed provisioning made in Docker and records why; the name stays reserved for a retry. */
export async function failPoolProvisioning(deps: Deps, pool: PoolRow, reason: string): Promise<PoolRow> {
  await removeService(deps.docker, pool.name);
  await removeSecret(deps.docker, poolSecretName(pool.name)).catch((error: unknown) =>
    deps.log.warn({ event: 'pool.secret_not_removed', poolId: pool.id, err: error }, 'pool secret could not be removed'),
  );
  deps.log.warn({ event: 'pool.failed', poolId: pool.id, pool: pool.name, reason }, 'pool provisioning failed');
  return failPool(deps.db, pool, reason);
}

/** Service and secret of a provisioned pool, for decommissioning. */
export async function removePoolService(deps: Deps, pool: PoolRow): Promise<void> {
  // PostgreSQL stops only once its sessions end (SIGTERM is a smart shutdown): the daemon's kept ones go first.
  await deps.poolConnections.drop(pool.id);
  await removeServiceAndWait(deps.docker, pool.name, (POOL_STOP_GRACE_SECONDS + 15) * 1000);
  await removeSecret(deps.docker, poolSecretName(pool.name));
}
