import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { projectManifest } from '../project-root.js';
import { statusesWhere } from '../domain/instances/instance-policy.js';

/** The daemon's Prometheus metrics, in a registry of its own (several daemons can share a process in tests). */
export function createMetrics() {
  const registry = new Registry();
  // Their standard names (process_*, nodejs_*), so the usual dashboards and alerts apply as they are.
  collectDefaultMetrics({ register: registry });
  const durationBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
  const requestBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  new Gauge({
    name: 'orchestrator_build_info',
    help: 'Always 1; the labels say which build and runtime this replica runs',
    labelNames: ['version', 'node_version'],
    registers: [registry],
  }).set({ version: projectManifest.version, node_version: process.versions.node }, 1);
  return {
    registry,
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by route (the path for known routes, else "other") and status code',
      labelNames: ['method', 'route', 'code'],
      registers: [registry],
    }),
    httpSeconds: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request durations, from the request to the last byte of the answer',
      labelNames: ['method', 'route'],
      buckets: requestBuckets,
      registers: [registry],
    }),
    graphqlOperations: new Counter({
      name: 'orchestrator_graphql_operations_total',
      help: 'GraphQL operations executed, by type, name ("anonymous" when unnamed) and outcome (ok, or errors)',
      labelNames: ['type', 'name', 'outcome'],
      registers: [registry],
    }),
    graphqlSeconds: new Histogram({
      name: 'orchestrator_graphql_operation_duration_seconds',
      help: 'GraphQL execution durations, by operation type and name',
      labelNames: ['type', 'name'],
      buckets: requestBuckets,
      registers: [registry],
    }),
    allocationSeconds: new Histogram({
      name: 'orchestrator_allocation_duration_seconds',
      help: 'createInstance/allocateDatabase: choosing a pool, making the role and database, recording the slot',
      labelNames: ['outcome'],
      buckets: durationBuckets,
      registers: [registry],
    }),
    provisioningSeconds: new Histogram({
      name: 'orchestrator_provisioning_duration_seconds',
      help: 'From PROVISIONING to RUNNING or FAILED, as the rows record it',
      labelNames: ['outcome'],
      buckets: durationBuckets,
      registers: [registry],
    }),
    // `task`, not `job`: Prometheus sets `job` itself, and would rename ours `exported_job`.
    jobRuns: new Counter({
      name: 'orchestrator_scheduler_runs_total',
      help: 'Scheduler job runs',
      labelNames: ['task', 'outcome'],
      registers: [registry],
    }),
    jobSeconds: new Histogram({
      name: 'orchestrator_scheduler_run_duration_seconds',
      help: 'Scheduler job run durations',
      labelNames: ['task'],
      buckets: durationBuckets,
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: 'orchestrator_webhook_deliveries_total',
      help: 'Kill Bill deliveries by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    billingEventsAbandoned: new Counter({
      name: 'orchestrator_billing_events_abandoned_total',
      help: 'Kill Bill events given up after BILLING_MAX_ATTEMPTS failed tries',
      labelNames: ['event_type'],
      registers: [registry],
    }),
    backupFailures: new Counter({
      name: 'orchestrator_backup_failures_total',
      help: 'Backups that ended FAILED, by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    offsiteUploads: new Counter({
      name: 'orchestrator_offsite_uploads_total',
      help: 'Backup uploads to off-site storage by outcome: completed, failed (tried again later), abandoned (the local copy is unusable)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    offsiteBytes: new Counter({
      name: 'orchestrator_offsite_uploaded_bytes_total',
      help: 'Encrypted bytes sent to off-site storage',
      registers: [registry],
    }),
    leader: new Gauge({ name: 'orchestrator_leader', help: '1 on the replica that runs the scheduler', registers: [registry] }),
    storageUp: new Gauge({
      name: 'orchestrator_storage_up',
      help: "1 when this replica's last check of the tenants' storage (both CephFS mounts) passed",
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The rows' answer within `ms`, or a rejection: a scrape never waits on a database that does not answer. */
const within = <T>(ms: number, work: Promise<T>): Promise<T> =>
  Promise.race([work, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);

/**
 * Gauges read from the rows at scrape time, so every replica reports the same truth. While the database is away a
 * scrape still answers: the gauges keep the last values read and `orchestrator_state_fresh` says 0. Pool slots come
 * from `poolSlots`, so the rule of what counts as free stays with the pools.
 */
export function registerStateGauges(
  metrics: Metrics,
  db: Kysely<Database>,
  poolSlots: () => Promise<{ used: number; free: number }>,
  timeoutMs = 1000,
): void {
  // A scrape collects every gauge at once: each state gauge starts its read, and `fresh` waits for all of this
  // scrape's reads, so it says whether every one answered (not which finished last).
  const reads: Promise<boolean>[] = [];
  new Gauge({
    name: 'orchestrator_state_fresh',
    help: '1 when every state gauge was read from the database at this scrape, 0 when any shows the last values read',
    registers: [metrics.registry],
    async collect() {
      await new Promise((resolve) => setImmediate(resolve));
      const answered = await Promise.all(reads.splice(0));
      this.set(answered.every(Boolean) ? 1 : 0);
    },
  });
  const read = async <T>(work: () => Promise<T>, apply: (value: T) => void): Promise<void> => {
    const done = within(timeoutMs, work()).then(
      (value) => {
        apply(value);
        return true;
      },
      () => false,
    );
    reads.push(done);
    await done;
  };
  /** A gauge of rows by status, read from the database at each scrape. */
  const byStatus = (name: string, help: string, rows: () => Promise<{ status: string; count: string }[]>) =>
    new Gauge({
      name,
      help,
      labelNames: ['status'],
      registers: [metrics.registry],
      async collect() {
        await read(rows, (found) => {
          this.reset();
          for (const row of found) this.set({ status: row.status }, Number(row.count));
        });
      },
    });
  byStatus('orchestrator_instances', 'Instances by status', () =>
    db
      .selectFrom('instances')
      .select((eb) => ['status', eb.fn.countAll<string>().as('count')])
      .groupBy('status')
      .execute(),
  );
  byStatus('orchestrator_billing_events', 'Kill Bill events by status (abandoned ones wait for retryBillingEvent)', () =>
    db
      .selectFrom('billing_events')
      .select((eb) => ['status', eb.fn.countAll<string>().as('count')])
      .groupBy('status')
      .execute(),
  );
  byStatus(
    'orchestrator_backups_offsite',
    "Backups by their off-site copy's status (FAILED: its local copy could not be uploaded)",
    () =>
      db
        .selectFrom('backups')
        .select((eb) => ['offsite_status as status', eb.fn.countAll<string>().as('count')])
        .where('offsite_status', 'is not', null)
        .groupBy('offsite_status')
        .execute() as Promise<{ status: string; count: string }[]>,
  );
  new Gauge({
    name: 'orchestrator_backup_newest_age_seconds',
    help: "Age of each live instance's newest completed backup (since its creation when it has none): an alert's input",
    labelNames: ['instance_id'],
    registers: [metrics.registry],
    async collect() {
      await read(
        () =>
          db
            .selectFrom('instances')
            .leftJoin('backups', (join) => join.onRef('backups.instance_id', '=', 'instances.id').on('backups.status', '=', 'COMPLETED'))
            .select([
              'instances.id',
              sql<string>`extract(epoch from now() - coalesce(max(backups.created_at), instances.created_at))`.as('age'),
            ])
            .where('instances.db_server_id', 'is not', null)
            .where('instances.status', 'not in', statusesWhere('ended'))
            .groupBy('instances.id')
            .execute(),
        (rows) => {
          this.reset();
          for (const row of rows) this.set({ instance_id: row.id }, Number(row.age));
        },
      );
    },
  });
  new Gauge({
    name: 'orchestrator_backups_failed',
    help: 'Backups whose last run ended FAILED and that retention has not pruned yet',
    registers: [metrics.registry],
    async collect() {
      await read(
        () =>
          db
            .selectFrom('backups')
            .select((eb) => eb.fn.countAll<string>().as('count'))
            .where('status', '=', 'FAILED')
            .executeTakeFirstOrThrow(),
        (row) => this.set(Number(row.count)),
      );
    },
  });
  const usageRows = () =>
    db
      .selectFrom('instance_usage')
      .innerJoin('instances', 'instances.id', 'instance_usage.instance_id')
      .select(['instance_usage.instance_id', 'filestore_bytes', 'database_bytes', 'backup_bytes', 'over_limit_since'])
      .where('instances.status', '<>', 'TERMINATED')
      .execute();
  new Gauge({
    name: 'orchestrator_tenant_storage_bytes',
    help: "Bytes each live instance stores, by kind (filestore and backups: CephFS's rbytes; database: pg_database_size), as last measured",
    labelNames: ['instance_id', 'kind'],
    registers: [metrics.registry],
    async collect() {
      await read(usageRows, (rows) => {
        this.reset();
        for (const row of rows) {
          for (const [kind, value] of [
            ['filestore', row.filestore_bytes],
            ['database', row.database_bytes],
            ['backup', row.backup_bytes],
          ] as const) {
            if (value !== null) this.set({ instance_id: row.instance_id, kind }, Number(value));
          }
        }
      });
    },
  });
  new Gauge({
    name: 'orchestrator_tenant_storage_over_limit',
    help: "1 for each live instance whose filestore and database together exceed its plan's storage limit",
    labelNames: ['instance_id'],
    registers: [metrics.registry],
    async collect() {
      await read(usageRows, (rows) => {
        this.reset();
        for (const row of rows) if (row.over_limit_since) this.set({ instance_id: row.instance_id }, 1);
      });
    },
  });
  new Gauge({
    name: 'orchestrator_pool_slots',
    help: 'Pool slots used and free (free only where allocation may place a database)',
    labelNames: ['state'],
    registers: [metrics.registry],
    async collect() {
      await read(poolSlots, (slots) => {
        this.set({ state: 'used' }, slots.used);
        this.set({ state: 'free' }, slots.free);
      });
    },
  });
}
