import type Docker from 'dockerode';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { Config } from './config/config.js';
import type { Database } from './db/schema.js';
import type { OffsiteStore } from './s3/offsite-store.js';
import type { PoolConnections } from './db/pool-connections.js';
import type { EventBus } from './events/event-bus.js';
import type { Logger } from './logger.js';
import type { Metrics } from './observability/metrics.js';
import type { Storage } from './storage/storage.js';
import type { ContainerExits } from './swarm/container-exits.js';

/** The handles every domain function receives; tests build their own. */
export interface Deps {
  db: Kysely<Database>;
  redis: Redis;
  docker: Docker;
  config: Config;
  log: Logger;
  events: EventBus;
  metrics: Metrics;
  /** Kept admin connections to the pool servers. */
  poolConnections: PoolConnections;
  /** Exit codes of this node's containers, filled from Docker's events while this replica leads. */
  containerExits: ContainerExits;
  /** Where backups also go, encrypted; null: no destination configured, backups stay local only. */
  offsite: OffsiteStore | null;
  /** The tenants' files (CephFS, or a plain directory) and whether they can be reached. */
  storage: Storage;
}
