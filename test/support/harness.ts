import assert from 'node:assert/strict';
import './isolation.js';
import { eventually } from './eventually.js';
import { testTimings } from './timings.js';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SignJWT } from 'jose';
import pg from 'pg';
import { loadConfig } from '../../src/config/config.js';
import { closeDeps, connectDeps, startDaemon, type Daemon } from '../../src/daemon.js';
import type { Deps } from '../../src/deps.js';
import { removeOrphanJobContainers } from '../../src/domain/backups/backup-jobs.js';
import { dropTenantDatabase, withPoolAdmin } from '../../src/db/pool-server.js';
import { poolAdminAccess } from '../../src/domain/pools/pools.js';
import { dropTemplate } from '../../src/domain/templates/template-database.js';
import { templateDatabase } from '../../src/domain/templates/templates.js';
import { tenantDatabaseName, tenantMaintenanceRoleName, tenantRoleName } from '../../src/domain/names.js';
import { createLogger } from '../../src/logger.js';
import type { SwarmSecret } from '../../src/swarm/docker-types.js';
import { labelFilters, testRunLabels } from '../../src/swarm/labels.js';
import { listServices, removeSecret, removeService } from '../../src/swarm/swarm.js';

export { eventually };

/** The HS256 secret test daemons verify customer tokens with. */
export const customerJwtSecret = `customer-jwt-secret-${randomUUID()}`;

/** A frontend token for `customerId`, signed as the frontend would (HS256, sub = customer id). */
export async function customerToken(customerId: string, secret = customerJwtSecret): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(customerId)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(secret));
}

/** What test daemons expect a Prometheus scraper to present on /metrics. */
export const metricsToken = `metrics-token-${randomUUID()}`;

/** The daemon's /metrics as a scraper with METRICS_TOKEN reads it. */
export async function scrapeMetrics(url: string, signal?: AbortSignal): Promise<Response> {
  return fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` }, ...(signal ? { signal } : {}) });
}

/** Every Docker object a test daemon makes carries this run's label, so cleanup removes exactly those. */
export const testRun = `t-${randomUUID().slice(0, 8)}`;
export const runLabels = testRunLabels(testRun);
const dockerLabelsEnv = Object.entries(runLabels)
  .map(([key, value]) => `${key}=${value}`)
  .join(',');

export interface GraphQLResult<T = any> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: { code?: string; field?: string } }[];
}

export interface TestDaemon {
  url: string;
  deps: Deps;
  daemon: Daemon;
  /** Every log line the daemon wrote, as written. */
  logs: string[];
  /** Every GraphQL response body the tests received, as sent. */
  responses: string[];
  gql: <T = any>(query: string, variables?: Record<string, unknown>, options?: { token?: string | null }) => Promise<GraphQLResult<T>>;
  stop: () => Promise<void>;
}

/** The field `name` of a call's data; a call that gave it no value and errors instead throws them, named. */
export function dataField<T = any>(result: GraphQLResult, name: string): T {
  const value = result.data?.[name];
  if (value == null && result.errors?.length) throw new Error(`${name}: ${JSON.stringify(result.errors)}`);
  return value;
}

/** Asserts that the call failed with `code` (and `field`, when given), the way a client reads it. */
export function expectError<R extends Pick<GraphQLResult, 'data' | 'errors'>>(
  result: R,
  code: string,
  field?: string,
): asserts result is R & { errors: NonNullable<GraphQLResult['errors']> } {
  const error = result.errors?.[0];
  assert.ok(error, `expected ${code}, got no error: ${JSON.stringify(result.data)}`);
  assert.equal(error.extensions?.code, code, error.message);
  if (field !== undefined) assert.equal(error.extensions?.field, field, error.message);
}

/** What a test daemon runs with, in this process or another: this run's labels and timings, then `env`. */
export const testDaemonEnv = (env: Record<string, string> = {}): Record<string, string | undefined> => ({
  ...process.env,
  ...testTimings,
  PORT: '0',
  DOCKER_LABELS: dockerLabelsEnv,
  JWT_SECRET: customerJwtSecret,
  METRICS_TOKEN: metricsToken,
  // Suites create many instances for one customer; the limit's own suite sets MAX_INSTANCES_PER_CUSTOMER.
  MAX_INSTANCES_PER_CUSTOMER: '10000',
  // Off-site uploads only where a suite asks for them (test/offsite.test.ts passes the bucket): the others keep to local backups.
  BACKUP_S3_BUCKET: '',
  // Templates only where a suite asks for them: the others follow each tenant through its own init job.
  ODOO_TEMPLATES: 'off',
  ...env,
});

/** A GraphQL client of the daemon at `url`, sending `token` (the admin token unless a call gives another, or null). */
/**
 * A keep-alive connection the daemon closed while this process was busy (a synchronous pbkdf2 check, a loaded machine)
 * resets the next request sent on it. Any HTTP client then asks again on a new connection; so does this one, once:
 * every mutation is safe to retry.
 */
export const connectionReset = (error: unknown): boolean =>
  error instanceof TypeError && ['ECONNRESET', 'UND_ERR_SOCKET'].includes((error.cause as { code?: string } | undefined)?.code ?? '');

export function graphqlClient(url: string, token: string, responses: string[] = []): TestDaemon['gql'] {
  return async (query, variables, options) => {
    const bearer = options?.token === undefined ? token : options.token;
    const post = () =>
      fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
    const response = await post().catch((error: unknown) => {
      if (connectionReset(error)) return post();
      throw error;
    });
    const text = await response.text();
    responses.push(text);
    return { status: response.status, ...JSON.parse(text) };
  };
}

/** A daemon in this process on a free port, with its own handles, logging into `logs` at debug level (or `env.LOG_LEVEL`). */
export async function startTestDaemon(env: Record<string, string> = {}): Promise<TestDaemon> {
  const config = loadConfig(testDaemonEnv(env));
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const deps = connectDeps(config, createLogger(env.LOG_LEVEL ?? 'debug', sink));
  const daemon = await startDaemon(deps);
  const responses: string[] = [];
  const gql = graphqlClient(daemon.url, config.adminToken, responses);
  return {
    url: daemon.url,
    deps,
    daemon,
    logs,
    responses,
    gql,
    stop: async () => {
      await daemon.stop();
      await closeDeps(deps);
    },
  };
}

/** Removes this run's services (and the containers their jobs left), then their secrets (Docker refuses while a service still uses one). */
export async function removeDockerObjects(deps: Deps): Promise<void> {
  for (const service of await listServices(deps.docker, runLabels)) await removeService(deps.docker, service.ID);
  await removeOrphanJobContainers(deps);
  const secrets = (await deps.docker.listSecrets({ filters: labelFilters(runLabels) })) as unknown as SwarmSecret[];
  for (const secret of secrets) {
    await eventually(
      () =>
        removeSecret(deps.docker, secret.ID).then(
          () => true,
          () => false,
        ),
      (removed) => removed,
      15_000,
    );
  }
}

/** Removes this run's Docker objects, drops every tenant database the tests made, then empties the tables and Redis. */
export async function resetState(deps: Deps): Promise<void> {
  await removeDockerObjects(deps);
  const pools = await deps.db.selectFrom('db_servers').selectAll().execute();
  const instances = await deps.db.selectFrom('instances').select('id').execute();
  for (const pool of pools) {
    const access = poolAdminAccess(pool, deps.config.masterKey);
    await withPoolAdmin(access, async (client) => {
      for (const { id } of instances)
        await dropTenantDatabase(
          client,
          { database: tenantDatabaseName(id), role: tenantRoleName(id), maintenanceRole: tenantMaintenanceRoleName(id) },
          (database, work) => withPoolAdmin(access, work, undefined, database),
        );
    }).catch(() => undefined);
  }
  await dropTemplates(deps);
  await deps.db.deleteFrom('rollouts').execute();
  await deps.db.deleteFrom('instances').execute();
  await deps.db.deleteFrom('db_servers').execute();
  // Pool numbers start again at 1, so the data directories of earlier pools must go with them.
  await deps.db.updateTable('pool_name_counter').set({ last_number: 0 }).execute();
  // A pool's PostgreSQL may still write its WAL while its task stops (ENOTEMPTY): the removal is tried until it is done.
  const removePools = () =>
    rm(join(deps.config.cephfsRoot, 'postgres_pools'), { recursive: true, force: true }).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOTEMPTY') throw error;
        return false;
      },
    );
  assert.ok(await eventually(removePools, (removed) => removed, 30_000, 500), 'the pools’ data directories are removed');
  await deps.redis.flushdb();
}

/** Drops the templates this run's daemon made (their databases and roles on their pools, their files), then their rows. */
async function dropTemplates(deps: Deps): Promise<void> {
  const templates = await deps.db
    .selectFrom('odoo_templates')
    .innerJoin('db_servers', 'db_servers.id', 'odoo_templates.pool_id')
    .selectAll('db_servers')
    .select('odoo_templates.id as template_id')
    .execute();
  for (const template of templates) {
    const names = templateDatabase({ id: template.template_id });
    await withPoolAdmin(poolAdminAccess(template, deps.config.masterKey), (client) => dropTemplate(client, names)).catch(() => undefined);
  }
  await rm(join(deps.config.cephfsRoot, 'odoo_templates'), { recursive: true, force: true });
  await deps.db.deleteFrom('odoo_templates').execute();
}

export const localPool = {
  host: process.env.POOL_HOST ?? '127.0.0.1',
  port: 5432,
  adminUser: process.env.POOL_ADMIN_USER ?? 'pool_admin',
  adminPassword: process.env.POOL_ADMIN_PASSWORD ?? '',
};

/** A connection to the local pool as a tenant's own role, with the credentials allocation issued. */
export async function connectAsTenant(
  credentials: { db_user: string; db_password: string; db_name: string },
  database = credentials.db_name,
): Promise<pg.Client> {
  const client = new pg.Client({
    host: localPool.host,
    port: localPool.port,
    user: credentials.db_user,
    password: credentials.db_password,
    database,
  });
  await client.connect();
  return client;
}

/** A connection to the local PostgreSQL as the pool admin, for looking at what allocation made. */
export async function withPoolCatalog<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  return withPoolAdmin(localPool, work);
}

export const POOL_FIELDS =
  'id name host port tenantHost tenantPort maxInstances currentInstances status healthStatus healthFailures lastHealthError statusReason serviceName publishedPort';

export const PROVISION_POOL = `mutation($input: ProvisionPoolInput!) { provisionPool(input: $input) { ${POOL_FIELDS} } }`;

/**
 * Polls the pool over GraphQL until `done` holds (or `timeoutMs` passes); returns the last view. A pool's first start
 * runs initdb on CephFS: minutes on two busy cores.
 */
export async function poolWhen(daemon: TestDaemon, id: string, done: (pool: any) => boolean, timeoutMs = 240_000): Promise<any> {
  return eventually(
    async () => dataField(await daemon.gql(`query($id: ID!) { pool(id: $id) { ${POOL_FIELDS} } }`, { id }), 'pool'),
    done,
    timeoutMs,
    250,
  );
}

export const REGISTER_POOL = `mutation($input: RegisterPoolInput!) {
  registerPool(input: $input) { id name host port maxInstances currentInstances status healthStatus }
}`;

export const CREATE_INSTANCE = `mutation($input: CreateInstanceInput!) {
  createInstance(input: $input) { id customerId name subdomain status dbServerId dbHost dbPort serviceName error }
}`;

export const ALLOCATE = `mutation($id: ID!) {
  allocateDatabase(instanceId: $id) { status dbServerId dbHost dbPort dbName dbUser }
}`;

export async function registerLocalPool(daemon: TestDaemon, name: string, maxInstances: number, priority?: number) {
  const result = await daemon.gql(REGISTER_POOL, { input: { name, maxInstances, priority, ...localPool } });
  if (!result.data?.registerPool) throw new Error(`registerPool failed: ${JSON.stringify(result.errors)}`);
  return result.data.registerPool as { id: string; name: string; status: string; currentInstances: number; maxInstances: number };
}

/** The customer of instanceInput() unless overridden; the Kill Bill fake's accounts belong to it by default. */
export const defaultCustomerId = '6f1c2a9e-2b1d-4c3e-9f10-0a1b2c3d4e5f';

let counter = 0;
/** A valid createInstance input with a subdomain unique to this run. */
export function instanceInput(overrides: Record<string, unknown> = {}) {
  counter += 1;
  return {
    customerId: defaultCustomerId,
    name: `Acme ${counter}`,
    subdomain: `acme-${process.pid}-${counter}`,
    odooVersion: '17.0',
    adminEmail: 'owner@acme.example',
    ...overrides,
  };
}
