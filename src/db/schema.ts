import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export const poolStatuses = ['provisioning', 'active', 'full', 'maintenance', 'error', 'decommissioned'] as const;
export type PoolStatus = (typeof poolStatuses)[number];

export const healthStatuses = ['unknown', 'healthy', 'degraded', 'unhealthy'] as const;
export type HealthStatus = (typeof healthStatuses)[number];

export const instanceStatuses = [
  'CREATING',
  'WAITING_FOR_DATABASE',
  'ALLOCATED',
  'PROVISIONING',
  'RUNNING',
  'DEGRADED',
  'STOPPING',
  'STOPPED',
  'STARTING',
  'RESTARTING',
  'SUSPENDED',
  'RESTORING',
  'FAILED',
  'TERMINATING',
  'TERMINATED',
] as const;
export type InstanceStatus = (typeof instanceStatuses)[number];

/** What was asked of an instance, apart from what is seen of it (its status). */
export const desiredStates = ['running', 'stopped', 'suspended', 'terminated'] as const;
export type DesiredState = (typeof desiredStates)[number];

/** The phases of an instance's life that can go wrong, each with its own condition. */
export const instancePhases = ['allocation', 'initialisation', 'service', 'restore', 'moduleChange', 'finalBackup'] as const;
export type InstancePhase = (typeof instancePhases)[number];
/** What went wrong in one phase, and since when (an ISO timestamp, as PostgreSQL writes it into JSON). */
export interface InstanceCondition {
  reason: string;
  since: string;
}
export type InstanceConditions = Partial<Record<InstancePhase, InstanceCondition>>;

export interface DbServersTable {
  id: Generated<string>;
  name: string;
  host: string;
  port: number;
  server_type: 'registered' | 'provisioned';
  max_instances: number;
  current_instances: Generated<number>;
  status: PoolStatus;
  health_status: Generated<HealthStatus>;
  health_failures: Generated<number>;
  last_health_check_at: Date | null;
  last_health_error: string | null;
  priority: Generated<number>;
  admin_user: string;
  admin_password_encrypted: string;
  tenant_host: string | null;
  tenant_port: number | null;
  service_name: string | null;
  service_id: string | null;
  published_port: number | null;
  cpu_limit: ColumnType<number | null, number | null | undefined, number | null>;
  memory_limit_mb: number | null;
  provision_reason: PoolProvisionReason | null;
  status_reason: string | null;
  status_changed_at: Timestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type PoolProvisionReason = 'admin' | 'growth';

export interface PoolNameCounterTable {
  singleton: boolean;
  last_number: number;
}

export type DbAllocationState = 'reserved' | 'ready';

export interface InstancesTable {
  id: Generated<string>;
  customer_id: string;
  name: string;
  subdomain: string;
  odoo_version: string;
  admin_email: string;
  subscription_id: string | null;
  cpu_limit: ColumnType<number, number, number>;
  memory_limit_mb: number;
  status: InstanceStatus;
  status_changed_at: Timestamp;
  service_name: string | null;
  service_id: string | null;
  /** What is wrong, by the phase it went wrong in; empty when nothing is. Written through instance-conditions.ts. */
  conditions: ColumnType<InstanceConditions, InstanceConditions | undefined, InstanceConditions>;
  db_server_id: string | null;
  db_host: string | null;
  db_port: Generated<number | null>;
  /** The catalog plan its limits came from (admins may override the limits of one instance). */
  plan: string | null;
  /** Its plan's storage limit (filestore and database), the CephFS quota of its data dir; null: none. */
  storage_limit_bytes: ColumnType<string | null, number | string | null | undefined, number | string | null>;
  /** What was asked (written before the call acts): the reconciler drives the instance there. */
  desired: ColumnType<DesiredState, DesiredState | undefined, DesiredState>;
  /** Set while a cancelled subscription's grace period runs: the reconciler terminates the instance then. */
  purge_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** When the one-shot init job had initialised the database; null until then. */
  initialized_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** The instance this one is a staging copy of (createStaging). */
  staging_of: ColumnType<string | null, string | null | undefined, string | null>;
  /** When a staging copy is terminated unless renewed (STAGING_TTL_DAYS). */
  staging_expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** When a staging copy's neutralisation (odoo neutralize) was checked: it is never started before. */
  neutralized_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** The image the tenant stays on while rollouts of its version pass it by; null: it follows them. */
  pinned_image: ColumnType<string | null, string | null | undefined, string | null>;
  /** The Swarm job initialising the database; never the tenant's long-running service (service_id). */
  init_job_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** `reserved`: a pool slot is held while the role and database are made; `ready`: they exist. */
  db_allocation: DbAllocationState | null;
  /** Until when the reserving caller owns a `reserved` allocation; past it, anyone may finish or release it. */
  db_reserved_until: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** Billing suspended the instance while a restore ran: it is suspended when the restore gives it back. */
  suspension_pending_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** Who terminated it without a final backup (an admin's `force`); null for a termination that takes one. */
  final_backup_waived_by: ColumnType<string | null, string | null | undefined, string | null>;
  /** The OdooSpec (src/swarm/odoo-config.ts) its Odoo runs with, as JSON; null until provisioned. */
  odoo_spec: ColumnType<object | null, string | null | undefined, string | null>;
  /** The template its database and filestore were copied from; null: initialised by its own init job (or loaded). */
  template_id: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface InstanceEventsTable {
  id: Generated<string>;
  instance_id: string;
  from_status: InstanceStatus | null;
  to_status: InstanceStatus | null;
  cause: string;
  actor: string;
  message: string | null;
  created_at: Timestamp;
}

export const billingEventStatuses = ['received', 'processed', 'ignored', 'failed', 'abandoned'] as const;
export type BillingEventStatus = (typeof billingEventStatuses)[number];

/** One Kill Bill push notification as delivered, and what became of it. */
export interface BillingEventsTable {
  id: Generated<string>;
  /** sha256 of the canonical body: a redelivery of the same notification finds this row. */
  dedupe_key: string;
  event_type: string;
  object_type: string;
  object_id: string | null;
  account_id: string | null;
  meta_data: string | null;
  status: BillingEventStatus;
  attempts: Generated<number>;
  last_error: string | null;
  /** What processing did or why nothing was done, for a person to read. */
  outcome: string | null;
  /** When the retry job may next take it; null once processed or ignored. */
  next_attempt_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  received_at: Timestamp;
  processed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  updated_at: Timestamp;
}

/** A catalog entry: what an instance sold under a Kill Bill plan of this name gets. */
export interface PlansTable {
  name: string;
  cpu_limit: ColumnType<number, number, number>;
  memory_limit_mb: number;
  /** What an instance on it may store (filestore and database); null: no limit. */
  storage_limit_bytes: ColumnType<string | null, number | string | null | undefined, number | string | null>;
  description: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** What the leader last measured of an instance's storage; null where it could not be measured. */
export interface InstanceUsageTable {
  instance_id: string;
  filestore_bytes: ColumnType<string | null, number | null, number | null>;
  database_bytes: ColumnType<string | null, number | null, number | null>;
  backup_bytes: ColumnType<string | null, number | null, number | null>;
  measured_at: Timestamp;
  /** Since when its filestore and database together exceed its storage limit; null while within it. */
  over_limit_since: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export const backupKinds = ['MANUAL', 'SCHEDULED', 'FINAL'] as const;
export type BackupKind = (typeof backupKinds)[number];
export const backupStatuses = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED'] as const;
export type BackupStatus = (typeof backupStatuses)[number];

/** One backup of an instance's database and filestore, under CEPHFS_ROOT/backups/<instance_id>/<id>/. */
export interface BackupsTable {
  id: Generated<string>;
  instance_id: string;
  kind: BackupKind;
  status: BackupStatus;
  actor: string;
  size_bytes: ColumnType<string | null, number | null | undefined, number | null>;
  error: string | null;
  job_service_id: string | null;
  /** A scheduled backup waits until then (the schedule spreads tenants); others start at once. */
  not_before: Timestamp;
  started_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** Null: no off-site destination was configured when it completed. */
  offsite_status: OffsiteStatus | null;
  /** Where its objects are in the bucket: `<prefix><instance id>/<backup id>/`. */
  offsite_key: string | null;
  /** The id of the key its off-site copy is encrypted under. */
  offsite_key_id: string | null;
  offsite_uploaded_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  offsite_attempts: ColumnType<number, number | undefined, number>;
  offsite_next_attempt_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  offsite_error: string | null;
  /** The upload under way, so a restarted daemon resumes it: each file's multipart upload, or done. */
  offsite_progress: ColumnType<OffsiteProgress | null, string | null | undefined, string | null>;
}

export const offsiteStatuses = ['PENDING', 'UPLOADING', 'COMPLETED', 'FAILED'] as const;
export type OffsiteStatus = (typeof offsiteStatuses)[number];

/** One file's multipart upload: what it was sealed with, so the parts still to come match those uploaded. */
export interface OffsiteFileUpload {
  uploadId: string;
  keyId: string;
  /** base64 */
  salt: string;
  chunkBytes: number;
  chunksPerPart: number;
}

export interface OffsiteProgress {
  files: Record<string, OffsiteFileUpload | 'done'>;
}

export const restoreStatuses = ['FETCHING', 'PENDING', 'SAVING', 'LOADING', 'SWAPPING', 'COMPLETED', 'FAILED'] as const;
export type RestoreStatus = (typeof restoreStatuses)[number];

/** Replacing an instance's data with a backup's (`replace`), or loading a new instance from one (`load`). */
export interface RestoresTable {
  id: Generated<string>;
  instance_id: string;
  backup_id: string;
  mode: 'replace' | 'load';
  status: RestoreStatus;
  actor: string;
  previous_status: InstanceStatus | null;
  final_backup_id: string | null;
  job_service_id: string | null;
  /** Who asked to provision the instance while it was loading: provisioning follows the load. */
  provision_requested_by: string | null;
  error: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export const moduleChangeStatuses = ['SAVING', 'APPLYING', 'VERIFYING', 'ROLLING_BACK', 'SETTLING', 'COMPLETED', 'FAILED'] as const;
export type ModuleChangeStatus = (typeof moduleChangeStatuses)[number];

/**
 * Installing (`-i`) or updating (`-u`) modules of one tenant, or moving it to a new build (`rollout`: `-u all` on the
 * new image, then a check once it runs), with a FINAL backup first and a restore of it on failure.
 */
export interface ModuleChangesTable {
  id: Generated<string>;
  instance_id: string;
  kind: 'install' | 'update' | 'rollout';
  modules: string[];
  status: ModuleChangeStatus;
  actor: string;
  /** Where the tenant was before (RUNNING, DEGRADED, STOPPED): where it goes back to. */
  previous_status: InstanceStatus;
  final_backup_id: string | null;
  job_service_id: string | null;
  /** The restore of the FINAL backup that rolls a failed change back. */
  restore_id: string | null;
  /** A rollout's new image, and the spec the tenant ran before (given back on a rollback). */
  image: ColumnType<string | null, string | null | undefined, string | null>;
  previous_spec: ColumnType<object | null, string | null | undefined, string | null>;
  /** A rollout's check of the tenant once it runs on the new image (a one-shot job). */
  check_job_id: ColumnType<string | null, string | null | undefined, string | null>;
  error: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export const rolloutStatuses = ['RUNNING', 'COMPLETED', 'FAILED'] as const;
export type RolloutStatus = (typeof rolloutStatuses)[number];

/** A new build of an Odoo version rolled out to its tenants, a batch at a time; the first failure stops it. */
export interface RolloutsTable {
  id: Generated<string>;
  odoo_version: string;
  image: string;
  batch_size: number;
  status: RolloutStatus;
  actor: string;
  error: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export const rolloutTenantStatuses = ['PENDING', 'UPDATING', 'COMPLETED', 'FAILED', 'SKIPPED'] as const;
export type RolloutTenantStatus = (typeof rolloutTenantStatuses)[number];

/** One tenant of a rollout, in the order the rollout takes them (`position`: batch = position / batch size). */
export interface RolloutTenantsTable {
  rollout_id: string;
  instance_id: string;
  position: number;
  status: RolloutTenantStatus;
  module_change_id: ColumnType<string | null, string | null | undefined, string | null>;
  error: ColumnType<string | null, string | null | undefined, string | null>;
  updated_at: Timestamp;
}

export interface RolloutEventsTable {
  id: Generated<string>;
  rollout_id: string;
  instance_id: string | null;
  message: string;
  created_at: Timestamp;
}

/** A tenant's maintenance login: the daemon's way into the tenant's database, with no more rights than the tenant. */
export interface TenantLoginsTable {
  instance_id: string;
  /** Sealed under MASTER_KEY (crypto/secret-box). */
  password_encrypted: string;
  created_at: Generated<Date>;
}

export const templateStatuses = ['BUILDING', 'READY', 'FAILED', 'RETIRED'] as const;
export type TemplateStatus = (typeof templateStatuses)[number];

/** A pool's ready-made database for one Odoo version, image and module set (and its filestore on CephFS). */
export interface OdooTemplatesTable {
  id: Generated<string>;
  pool_id: string;
  odoo_version: string;
  image: string;
  modules: string[];
  status: TemplateStatus;
  error: ColumnType<string | null, string | null | undefined, string | null>;
  /** The Swarm job building it, while it builds. */
  job_id: ColumnType<string | null, string | null | undefined, string | null>;
  started_at: Timestamp;
  built_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  failed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  retired_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface Database {
  odoo_templates: OdooTemplatesTable;
  tenant_logins: TenantLoginsTable;
  plans: PlansTable;
  backups: BackupsTable;
  restores: RestoresTable;
  module_changes: ModuleChangesTable;
  rollouts: RolloutsTable;
  rollout_tenants: RolloutTenantsTable;
  rollout_events: RolloutEventsTable;
  db_servers: DbServersTable;
  instances: InstancesTable;
  pool_name_counter: PoolNameCounterTable;
  billing_events: BillingEventsTable;
  instance_events: InstanceEventsTable;
  instance_usage: InstanceUsageTable;
}

export type PoolRow = Selectable<DbServersTable>;
export type NewPoolRow = Insertable<DbServersTable>;
export type InstanceRow = Selectable<InstancesTable>;
export type NewInstanceRow = Insertable<InstancesTable>;
export type InstanceUpdate = Updateable<InstancesTable>;
export type InstanceEventRow = Selectable<InstanceEventsTable>;
export type BillingEventRow = Selectable<BillingEventsTable>;
export type PlanRow = Selectable<PlansTable>;
export type InstanceUsageRow = Selectable<InstanceUsageTable>;
export type BackupRow = Selectable<BackupsTable>;
export type RestoreRow = Selectable<RestoresTable>;
export type TemplateRow = Selectable<OdooTemplatesTable>;
export type ModuleChangeRow = Selectable<ModuleChangesTable>;
export type RolloutRow = Selectable<RolloutsTable>;
export type RolloutTenantRow = Selectable<RolloutTenantsTable>;
export type RolloutEventRow = Selectable<RolloutEventsTable>;
