import { posix } from 'node:path';
import type { BindMount, ServiceSpec } from './docker-types.js';
import { roleLabels, type InstanceServiceRole, type Labels } from './labels.js';
import { instanceDataDir } from './odoo-service.js';
import { oneShotJob, onNetwork, secretFile } from './spec-parts.js';

/** Where an instance's backups live on CephFS; each backup is a directory named by its id. */
export const instanceBackupsDir = (cephfsRoot: string, instanceId: string): string => posix.join(cephfsRoot, 'backups', instanceId);
export const backupDir = (cephfsRoot: string, instanceId: string, backupId: string): string =>
  posix.join(instanceBackupsDir(cephfsRoot, instanceId), backupId);
/** Plain-SQL exports made for a download, removed once it is sent. */
export const exportsDir = (cephfsRoot: string, instanceId: string): string =>
  posix.join(instanceBackupsDir(cephfsRoot, instanceId), '.exports');

export const DUMP_FILE = 'dump.custom';
export const FILESTORE_FILE = 'filestore.tar';
export const MANIFEST_FILE = 'manifest.json';

/** Whether a job must join the overlay network to reach `host`: a service name must be resolved there, an address not. */
export const needsOverlay = (host: string): boolean => !/^\d{1,3}(\.\d{1,3}){3}$/.test(host);

/** How a job reaches the pool: as its admin, with the password in a pgpass secret file, acting as the tenant's role. */
export interface PoolReach {
  host: string;
  port: number;
  adminUser: string;
  secret: { id: string; name: string };
}

export interface JobBase {
  name: string;
  instanceId: string;
  image: string;
  /**
   * The overlay network, for a pool reached by service name; null runs the job in the host's network namespace, where
   * a pool's address is reached as from the host (a namespace of its own would cost the job ~150 ms to start).
   */
  network: string | null;
  cephfsRoot: string;
  extraLabels?: Labels;
}

const PGPASS = '/run/secrets/pgpass';

/** A pgpass line for any host, port and database: `:` and `\` escaped as libpq reads them. */
export const pgpassLine = (user: string, password: string): string =>
  `*:*:*:${[user, password].map((value) => value.replace(/[\\:]/g, (char) => `\\${char}`)).join(':')}\n`;

const poolEnv = (pool: PoolReach): string[] => [
  `PGHOST=${pool.host}`,
  `PGPORT=${pool.port}`,
  `PGUSER=${pool.adminUser}`,
  `PGPASSFILE=${PGPASS}`,
  'PGCONNECT_TIMEOUT=10',
  'PGAPPNAME=odoo-orchestrator-job',
];

/**
 * The sha256 of a file (or of stdin), in hex. OpenSSL uses the CPU's SHA instructions, about five times faster than
 * coreutils' sha256sum, which stands in where the image has no openssl.
 */
const SHA256_FUNCTION = `sha256() { if command -v openssl >/dev/null; then openssl dgst -sha256 -r "$@"; else sha256sum "$@"; fi | cut -d' ' -f1; }`;

/** Every value reaches the script through its environment, as a quoted variable: nothing is spliced into the code. */
const BACKUP_SCRIPT = `set -euo pipefail
umask 022
${SHA256_FUNCTION}
final="/backups/$BACKUP_ID"
work="/backups/.partial-$BACKUP_ID"
if [ -f "$final/${MANIFEST_FILE}" ]; then exit 0; fi
rm -rf "$work" && mkdir -p "$work"
pg_dump -Fc --role="$DB_ROLE" -d "$DB_NAME" -f "$work/${DUMP_FILE}" &
dump=$!
# The server's version, as the dump records it, asked beside the dump: reading the dump's header after it costs ~35 ms.
psql -X -A -t -d "$DB_NAME" -c 'show server_version' | sed 's/ .*//' >"$work/.pg_version" &
version=$!
# The installed modules and their versions, as Odoo's own dump lists them in its manifest (none before initialisation).
{ if [ "$(psql -X -A -t -d "$DB_NAME" -c "select to_regclass('ir_module_module') is not null")" = t ]; then
    psql -X -A -t -d "$DB_NAME" -c "select coalesce(json_object_agg(name, latest_version order by name), '{}') from ir_module_module where state = 'installed'"
  else echo '{}'; fi; } >"$work/.modules" &
modules=$!
src="/data/filestore/$DB_NAME"
# The archive is hashed as it is written; the dump cannot be: pg_dump rewrites its table of contents at the end.
{ if [ -d "$src" ]; then tar -C "$src" -cf - .; else tar -cf - -T /dev/null; fi; } |
  tee "$work/${FILESTORE_FILE}" | sha256 >"$work/.filestore.sha256" &
archive=$!
wait "$dump"
dump_sha=$(sha256 "$work/${DUMP_FILE}")
wait "$archive"
wait "$version"
wait "$modules"
fs_sha=$(cat "$work/.filestore.sha256") && pg_version=$(cat "$work/.pg_version") && rm "$work/.filestore.sha256" "$work/.pg_version"
module_versions=$(cat "$work/.modules") && rm "$work/.modules"
cat >"$work/${MANIFEST_FILE}" <<JSON
{
  "odoo_dump": "1",
  "db_name": "$DB_NAME",
  "version": "$ODOO_VERSION",
  "version_info": [\${ODOO_VERSION%%.*}, \${ODOO_VERSION#*.}, 0, "final", 0, ""],
  "major_version": "$ODOO_VERSION",
  "pg_version": "$pg_version",
  "modules": $module_versions,
  "instanceId": "$INSTANCE_ID",
  "backupId": "$BACKUP_ID",
  "createdAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "odooVersion": "$ODOO_VERSION",
  "databaseName": "$DB_NAME",
  "postgresVersion": "$pg_version",
  "files": [
    { "name": "${DUMP_FILE}", "size": $(stat -c %s "$work/${DUMP_FILE}"), "sha256": "$dump_sha" },
    { "name": "${FILESTORE_FILE}", "size": $(stat -c %s "$work/${FILESTORE_FILE}"), "sha256": "$fs_sha" }
  ]
}
JSON
mv "$work" "$final"
`;

/** How long a restore job waits for the daemon to make what it loads into. */
const TARGET_WAIT_SECONDS = 60;

/**
 * Checks the backup while loading it into a fresh database and a sibling filestore directory; touches nothing else.
 * The daemon makes both while Swarm starts the job, the directory last: the job waits for the directory.
 */
const RESTORE_SCRIPT = `set -euo pipefail
cd /backup
${SHA256_FUNCTION}
verify() { [ "$(sha256 "$1")" = "$2" ] || { echo "$1: sha256 does not match the manifest" >&2; return 1; }; }
{ verify ${DUMP_FILE} "$DUMP_SHA256" && verify ${FILESTORE_FILE} "$FILESTORE_SHA256"; } &
verify=$!
target="/data/filestore/$FILESTORE_NEW"
waited=0
until [ -d "$target" ]; do
  waited=$((waited + 1))
  if [ "$waited" -gt $((${TARGET_WAIT_SECONDS} * 50)) ]; then echo "$DATABASE_NEW and its filestore directory were not made" >&2; exit 1; fi
  sleep 0.02
done
pg_restore --no-owner --no-privileges --exit-on-error --role="$DB_ROLE" -j 2 -d "$DATABASE_NEW" ${DUMP_FILE} &
restore=$!
tar -C "$target" -xpf ${FILESTORE_FILE} --numeric-owner
chown "$ODOO_UID:$ODOO_UID" "$target"
wait "$restore"
wait "$verify"
`;

/** Odoo's database manager restores plain SQL: the custom dump converted, without owners or grants of the old role. */
const EXPORT_SCRIPT = `set -euo pipefail
umask 022
mkdir -p /backups/.exports
pg_restore --no-owner --no-privileges -f "/backups/.exports/$EXPORT_ID.sql.partial" "/backups/$BACKUP_ID/${DUMP_FILE}"
mv "/backups/.exports/$EXPORT_ID.sql.partial" "/backups/.exports/$EXPORT_ID.sql"
`;

function jobSpec(
  base: JobBase,
  role: InstanceServiceRole,
  script: string,
  env: string[],
  mounts: BindMount[],
  secret?: PoolReach['secret'],
): ServiceSpec {
  const labels = roleLabels(base.instanceId, role, base.extraLabels);
  return oneShotJob(base.name, labels, {
    ContainerSpec: {
      Image: base.image,
      Labels: labels,
      Command: ['bash', '-c', script],
      Env: env,
      Mounts: mounts,
      ...(secret ? { Secrets: [secretFile(secret, 'pgpass', 0)] } : {}),
    },
    // One try: the daemon decides what a failure means (a final backup is asked for again, a restore undone).
    RestartPolicy: { Condition: 'none', Delay: 0, MaxAttempts: 0 },
    // Attaching an overlay network costs a job about half a second: only when it must reach a pool by service name.
    Networks: onNetwork(base.network ?? 'host'),
  });
}

export interface BackupJobInput extends JobBase {
  backupId: string;
  odooVersion: string;
  db: { name: string; role: string };
  pool: PoolReach;
}

/** The one-shot job that dumps the tenant's database (online) and archives its filestore into the backup's directory. Pure. */
export const backupJobSpec = (input: BackupJobInput): ServiceSpec =>
  jobSpec(
    input,
    'backup',
    BACKUP_SCRIPT,
    [
      ...poolEnv(input.pool),
      `BACKUP_ID=${input.backupId}`,
      `INSTANCE_ID=${input.instanceId}`,
      `DB_NAME=${input.db.name}`,
      `DB_ROLE=${input.db.role}`,
      `ODOO_VERSION=${input.odooVersion}`,
    ],
    [
      { Type: 'bind', Source: instanceBackupsDir(input.cephfsRoot, input.instanceId), Target: '/backups' },
      { Type: 'bind', Source: instanceDataDir(input.cephfsRoot, input.instanceId), Target: '/data', ReadOnly: true },
    ],
    input.pool.secret,
  );

export interface RestoreJobInput extends JobBase {
  /** The backup's own instance and id: where its files are. */
  source: { instanceId: string; backupId: string; dumpSha256: string; filestoreSha256: string };
  db: { newName: string; role: string };
  filestoreNewDir: string;
  odooUid: number;
  pool: PoolReach;
}

/** The one-shot job that checks a backup and loads it beside the tenant's data (a fresh database, a sibling directory). Pure. */
export const restoreJobSpec = (input: RestoreJobInput): ServiceSpec =>
  jobSpec(
    input,
    'restore',
    RESTORE_SCRIPT,
    [
      ...poolEnv(input.pool),
      `DATABASE_NEW=${input.db.newName}`,
      `DB_ROLE=${input.db.role}`,
      `FILESTORE_NEW=${input.filestoreNewDir}`,
      `DUMP_SHA256=${input.source.dumpSha256}`,
      `FILESTORE_SHA256=${input.source.filestoreSha256}`,
      `ODOO_UID=${input.odooUid}`,
    ],
    [
      {
        Type: 'bind',
        Source: backupDir(input.cephfsRoot, input.source.instanceId, input.source.backupId),
        Target: '/backup',
        ReadOnly: true,
      },
      { Type: 'bind', Source: instanceDataDir(input.cephfsRoot, input.instanceId), Target: '/data' },
    ],
    input.pool.secret,
  );

export interface ExportJobInput extends JobBase {
  backupId: string;
  exportId: string;
}

/** The one-shot job that writes a backup's database as plain SQL for a download; it needs no database server. Pure. */
export const exportJobSpec = (input: ExportJobInput): ServiceSpec =>
  jobSpec(
    input,
    'backup',
    EXPORT_SCRIPT,
    [`BACKUP_ID=${input.backupId}`, `EXPORT_ID=${input.exportId}`],
    [{ Type: 'bind', Source: instanceBackupsDir(input.cephfsRoot, input.instanceId), Target: '/backups' }],
  );
