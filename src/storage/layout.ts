import { posix } from 'node:path';

/**
 * Where a tenant's files are under a storage root: the same relative paths under CEPHFS_ROOT (the daemon's view) and
 * CEPHFS_TENANT_ROOT (the tenants' view, which bind mounts use). Pure.
 */

/** A tenant's filestore (its Odoo data dir); its CephFS quota is the plan's storage limit. */
export const instanceDataDir = (root: string, instanceId: string): string => posix.join(root, 'odoo_instances', instanceId);

/** Where a terminated tenant's filestore goes when FILESTORE_ON_TERMINATE=archive. */
export const instanceArchiveDir = (root: string, instanceId: string): string => posix.join(root, 'odoo_instances_archive', instanceId);

/** A CephFS snapshot of `dir` (read-only, as it was when made): `dir/.snap/<name>`. */
export const snapshotPath = (dir: string, name: string): string => posix.join(dir, '.snap', name);

/** The snapshot of a tenant's data dir that a backup archives its filestore from. */
export const backupSnapshotName = (backupId: string): string => `backup-${backupId}`;

/** A template's Odoo data dir: its build writes the template's filestore there, copied (never linked) into each tenant's. */
export const templateDataDir = (root: string, templateId: string): string => posix.join(root, 'odoo_templates', templateId);

/** Where Odoo keeps the files of database `database` under its data dir `dataDir`. */
export const filestoreDir = (dataDir: string, database: string): string => posix.join(dataDir, 'filestore', database);
