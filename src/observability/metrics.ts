import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/** The daemon's Prometheus metrics, in a registry of its own (several daemons can share a process in tests). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'orchestrator_process_' });
  const durationBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
  return {
    registry,
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
    jobRuns: new Counter({ name: 'orchestrator_scheduler_runs_total', help: 'Scheduler job runs', labelNames: ['job', 'outcome'], registers: [registry] }),
    jobSeconds: new Histogram({
      name: 'orchestrator_scheduler_run_duration_seconds',
      help: 'Scheduler job run durations',
      labelNames: ['job'],
      buckets: durationBuckets,
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: 'orchestrator_webhook_deliveries_total',
      help: 'Kill Bill deliveries by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    backupFailures: new Counter({
      name: 'orchestrator_backup_failures_total',
      help: 'Backups that ended FAILED, by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    leader: new Gauge({ name: 'orchestrator_leader', help: '1 on the replica that runs the scheduler', registers: [registry] }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Gauges read from the rows at scrape time, so every replica reports the same truth. */
export function registerStateGauges(metrics: Metrics, db: Kysely<Database>): void {
  new Gauge({
    name: 'orchestrator_instances',
    help: 'Instances by status',
    labelNames: ['status'],
    registers: [metrics.registry],
    async collect() {
      this.reset();
      const rows = await db.selectFrom('instances').select((eb) => ['status', eb.fn.countAll<string>().as('count')]).groupBy('status').execute();
      for (const row of rows) this.set({ status: row.status }, Number(row.count));
    },
  });
  new Gauge({
    name: 'orchestrator_backup_newest_age_seconds',
    help: "Age of each live instance's newest completed backup (since its creation when it has none): an alert's input",
    labelNames: ['instance_id'],
    registers: [metrics.registry],
    async collect() {
      this.reset();
      const rows = await db
        .selectFrom('instances')
        .leftJoin('backups', (join) => join.onRef('backups.instance_id', '=', 'instances.id').on('backups.status', '=', 'COMPLETED'))
        .select(['instances.id', sql<string>`extract(epoch from now() - coalesce(max(backups.created_at), instances.created_at))`.as('age')])
        .where('instances.db_server_id', 'is not', null)
        .where('instances.status', 'not in', ['TERMINATING', 'TERMINATED'])
        .groupBy('instances.id')
        .execute();
      for (const row of rows) this.set({ instance_id: row.id }, Number(row.age));
    },
  });
  new Gauge({
    name: 'orchestrator_backups_failed',
    help: 'Backups whose last run ended FAILED and that retention has not pruned yet',
    registers: [metrics.registry],
    async collect() {
      const row = await db.selectFrom('backups').select((eb) => eb.fn.countAll<string>().as('count')).where('status', '=', 'FAILED').executeTakeFirstOrThrow();
      this.set(Number(row.count));
    },
  });
  new Gauge({
    name: 'orchestrator_pool_slots',
    help: 'Pool slots used and free (free only where allocation may place a database)',
    labelNames: ['state'],
    registers: [metrics.registry],
    async collect() {
      const row = await db
        .selectFrom('db_servers')
        .select([
          sql<string>`coalesce(sum(current_instances), 0)`.as('used'),
          sql<string>`coalesce(sum(case when status = 'active' and health_status <> 'unhealthy' then max_instances - current_instances else 0 end), 0)`.as('free'),
        ])
        .where('status', '<>', 'decommissioned')
        .executeTakeFirstOrThrow();
      this.set({ state: 'used' }, Number(row.used));
      this.set({ state: 'free' }, Number(row.free));
    },
  });
}
