import type { BackupManifest } from './backups.js';

/** The manifest.json Odoo's own database dump carries (odoo/service/db.py dump_db_manifest), and nothing else. */
export interface OdooDumpManifest {
  odoo_dump: '1';
  db_name: string;
  version: string;
  version_info: (number | string)[];
  major_version: string;
  pg_version: string;
  modules: Record<string, string>;
}

/** `17.0` as Odoo's release.version_info: (17, 0, 0, 'final', 0, ''). */
const versionInfo = (version: string): (number | string)[] => {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return [major, minor, 0, 'final', 0, ''];
};

/** Pure: a backup's manifest as Odoo's: what a download's zip holds (dump.sql, filestore/), not the stored files. */
export const odooDumpManifest = (manifest: BackupManifest): OdooDumpManifest => ({
  odoo_dump: '1',
  db_name: manifest.db_name ?? manifest.databaseName,
  version: manifest.version ?? manifest.odooVersion,
  version_info: manifest.version_info ?? versionInfo(manifest.odooVersion),
  major_version: manifest.major_version ?? manifest.odooVersion,
  pg_version: manifest.pg_version ?? manifest.postgresVersion,
  modules: manifest.modules ?? {},
});
