import { z } from 'zod';
import { commaList, cronExpression, int } from './rules.js';

/** How the daemon makes, reaches and watches the PostgreSQL pools it runs as Swarm services. */
export const poolSection = z
  .object({
    POSTGRES_POOL_IMAGE: z.string().min(1).default('postgres:16').describe('pool image'),
    POOL_ACCESS_MODE: z
      .enum(['published', 'overlay'])
      .default('published')
      .describe('`published`: reach provisioned pools through a host port; `overlay`: by service name'),
    POOL_PUBLISHED_HOST: z
      .string()
      .regex(/^[a-zA-Z0-9.-]+$/, 'must be a host name or an IPv4 address')
      .default('127.0.0.1')
      .describe("where the daemon finds pools' published ports"),
    POOL_PUBLISHED_PORTS: z
      .string()
      .regex(/^\d{2,5}-\d{2,5}$/, 'must be a port range such as 25432-25999')
      .refine((range) => {
        const [first, last] = range.split('-').map(Number) as [number, number];
        return first >= 1024 && last <= 65535 && first <= last;
      }, 'must lie within 1024-65535, first port first')
      .default('25432-25999')
      .describe('the host ports pools are published on'),
    POOL_PLACEMENT_CONSTRAINTS: z
      .string()
      .default('node.labels.role==database')
      .describe('for pool services (`none`: no constraint; dropped on a single-node swarm)'),
    POOL_POSTGRES_UID: int(0, 2 ** 31)
      .default(999)
      .describe("the pool image's superuser's uid"),
    POOL_ADMIN_USER: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a PostgreSQL role name')
      .default('postgres')
      .describe("the pool image's superuser"),
    POOL_PROVISION_DEADLINE_SECONDS: int(10, 3600).default(300).describe('after this, a pool not answering is `ERROR`'),
    POOL_PROVISIONING_CRON: cronExpression.default('*/2 * * * * *').describe('pool activation'),
    POOL_HEALTH_CRON: cronExpression.default('*/15 * * * * *').describe('pool health checks'),
    POOL_HEALTH_TIMEOUT_MS: int(100, 60_000).default(3000).describe('health check timeout'),
    POOL_UNHEALTHY_AFTER: int(1, 100).default(3).describe('failures in a row before `UNHEALTHY`'),
    POOL_ADMIN_CONNECTIONS: int(1, 100)
      .default(16)
      .describe('kept admin connections per pool server (within the 20 a provisioned pool reserves beyond its tenants)'),
    POOL_ADMIN_IDLE_SECONDS: int(1, 3600).default(30).describe('how long a kept admin connection stays unused before it is closed'),
    POOL_GROWTH: z.enum(['on', 'off']).default('off').describe('`on`: automatic growth, one more pool when no pool has room'),
    POOL_GROWTH_MAX_INSTANCES: int(1, 10_000).default(50).describe('instances a pool made by growth holds at most'),
    POOL_GROWTH_CPU_LIMIT: z.coerce
      .number({ message: 'must be a number of cores' })
      .min(0.25, 'must be at least 0.25')
      .max(64, 'must be at most 64')
      .default(2)
      .describe('CPU cores of a pool made by growth (also the default of `provisionPool`)'),
    POOL_GROWTH_MEMORY_MB: int(256, 1024 * 1024)
      .default(4096)
      .describe('memory in MB of a pool made by growth (also the default of `provisionPool`)'),
  })
  .transform((e) => ({
    postgresPoolImage: e.POSTGRES_POOL_IMAGE,
    pools: {
      /** `published`: the daemon runs outside the swarm and reaches a pool through its host-mode port; `overlay`: by service name. */
      accessMode: e.POOL_ACCESS_MODE,
      publishedHost: e.POOL_PUBLISHED_HOST,
      publishedPorts: (([first, last]) => ({ first: first!, last: last! }))(e.POOL_PUBLISHED_PORTS.split('-').map(Number)),
      /** Placement constraints for pool services; dropped on a single-node swarm, where no node could carry a label. */
      placementConstraints: commaList(e.POOL_PLACEMENT_CONSTRAINTS).filter((constraint) => constraint !== 'none'),
      postgresUid: e.POOL_POSTGRES_UID,
      adminUser: e.POOL_ADMIN_USER,
      provisionDeadlineSeconds: e.POOL_PROVISION_DEADLINE_SECONDS,
      provisioningCron: e.POOL_PROVISIONING_CRON,
      healthCron: e.POOL_HEALTH_CRON,
      healthTimeoutMs: e.POOL_HEALTH_TIMEOUT_MS,
      unhealthyAfterFailures: e.POOL_UNHEALTHY_AFTER,
      /** Admin connections the daemon keeps per pool server: at most `max` at once, each closed after `idleMs` unused. */
      adminConnections: { max: e.POOL_ADMIN_CONNECTIONS, idleMs: e.POOL_ADMIN_IDLE_SECONDS * 1000 },
      growth: {
        enabled: e.POOL_GROWTH === 'on',
        maxInstances: e.POOL_GROWTH_MAX_INSTANCES,
        cpuLimit: e.POOL_GROWTH_CPU_LIMIT,
        memoryLimitMb: e.POOL_GROWTH_MEMORY_MB,
      },
    },
  }))
  .meta({ title: 'Pools' });
