import type { Migration } from 'kysely';
import * as dbServers from './001_db_servers.js';
import * as instances from './002_instances.js';
import * as allocationFields from './003_add_db_allocation_fields.js';
import * as poolProvisioning from './004_pool_provisioning.js';
import * as instanceLifecycle from './005_instance_lifecycle_events.js';
import * as billingEvents from './006_billing_events.js';
import * as tenantInitialisation from './008_tenant_initialisation.js';
import * as billingTruth from './009_billing_truth.js';
import * as allocationReservations from './010_allocation_reservations.js';
import * as backups from './012_backups.js';
import * as instanceAdmission from './013_instance_admission.js';
import * as reservationsByPool from './014_reservations_by_pool.js';
import * as instanceOdooSpec from './015_instance_odoo_spec.js';
import * as storageLimits from './016_storage_limits.js';
import * as tenantIsolation from './017_tenant_isolation.js';
import * as offsiteBackups from './018_offsite_backups.js';
import * as odooTemplates from './019_odoo_templates.js';
import * as moduleChanges from './020_module_changes.js';
import * as stagingCopies from './021_staging_copies.js';
import * as rollouts from './022_rollouts.js';
import * as desiredState from './023_desired_state.js';
import * as instanceConditions from './024_instance_conditions.js';

/** Every migration, in order. Kysely applies them by name, so a name never changes once released. */
export const migrations: Record<string, Migration> = {
  '001_db_servers': dbServers,
  '002_instances': instances,
  '003_add_db_allocation_fields': allocationFields,
  '004_pool_provisioning': poolProvisioning,
  '005_instance_lifecycle_events': instanceLifecycle,
  '006_billing_events': billingEvents,
  '008_tenant_initialisation': tenantInitialisation,
  '009_billing_truth': billingTruth,
  '010_allocation_reservations': allocationReservations,
  '012_backups': backups,
  '013_instance_admission': instanceAdmission,
  '014_reservations_by_pool': reservationsByPool,
  '015_instance_odoo_spec': instanceOdooSpec,
  '016_storage_limits': storageLimits,
  '017_tenant_isolation': tenantIsolation,
  '018_offsite_backups': offsiteBackups,
  '019_odoo_templates': odooTemplates,
  '020_module_changes': moduleChanges,
  '021_staging_copies': stagingCopies,
  '022_rollouts': rollouts,
  '023_desired_state': desiredState,
  '024_instance_conditions': instanceConditions,
};
