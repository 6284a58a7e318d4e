import { posix } from 'node:path';
import type { BindMount, ServiceSpec } from './docker-types.js';
import { roleLabels, type InstanceServiceRole, type Labels } from './labels.js';
import { instanceDataDir } from '../storage/layout.js';
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

/**
 * How a job reaches the pool: as the tenant's maintenance login (a member of the tenant's role only, never the pool
 * admin), with its password in a pgpass secret file, acting as the tenant's role.
 */
export interface PoolReach {
  host: string;
  port: number;
  user: string;
  secret: { id: string; name: string };
}

export interface JobBase {
  name: string;
  instanceId: string;
  image: string;
  /**
   * The overlay network, for a pool reached by service name; null leaves the job on Docker's default bridge, where a
   * pool's address is reached as from a tenant's container. Never the host's network namespace.
   */
  network: string | null;
  cephfsRoot: string;
  /** The tenant's uid (Odoo's user): jobs run as it, with no capabilities, so they reach no more than the tenant does. */
  uid: number;
  extraLabels?: Labels;
}

const PGPASS = '/run/secrets/pgpass';

/** A pgpass line for any host, port and database: `:` and `\` escaped as libpq reads them. */
export const pgpassLine = (user: string, password: string): string =>
  `*:*:*:${[user, password].map((value) => value.replace(/[\\:]/g, (char) => `\\${char}`)).join(':')}\n`;

const poolEnv = (pool: PoolReach): string[] => [
  `PGHOST=${pool.host}`,
  `PGPORT=${pool.port}`,
  `PGUSER=${pool.user}`,
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
src="/data/filestore/$DB_NAME"
at_snapshot=()
if [ -n "\${SNAPSHOT:-}" ]; then
  # The database's snapshot, then at once the filestore's (CephFS): every file a committed row names is in it. pg_dump
  # reads the database as of that snapshot, exported by a transaction held open until the dump is done.
  coproc held { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB_NAME"; }
  echo 'begin isolation level repeatable read read only; select pg_export_snapshot();' >&"\${held[1]}"
  read -r db_snapshot <&"\${held[0]}"
  rmdir "/data/.snap/$SNAPSHOT" 2>/dev/null || true
  mkdir "/data/.snap/$SNAPSHOT"
  at_snapshot=(--snapshot="$db_snapshot")
  src="/data/.snap/$SNAPSHOT/filestore/$DB_NAME"
fi
pg_dump -Fc --role="$DB_ROLE" "\${at_snapshot[@]}" -d "$DB_NAME" -f "$work/${DUMP_FILE}" &
dump=$!
# The server's version, as the dump records it, asked beside the dump: reading the dump's header after it costs ~35 ms.
psql -X -A -t -d "$DB_NAME" -c 'show server_version' | sed 's/ .*//' >"$work/.pg_version" &
version=$!
# The installed modules and their versions, as Odoo's own dump lists them in its manifest (none before initialisation).
{ if [ "$(psql -X -A -t -d "$DB_NAME" -c "select to_regclass('ir_module_module') is not null")" = t ]; then
    psql -X -A -t -d "$DB_NAME" -c "select coalesce(json_object_agg(name, latest_version order by name), '{}') from ir_module_module where state = 'installed'"
  else echo '{}'; fi; } >"$work/.modules" &
modules=$!
# The tenant owns /data: a link on the way to its filestore (to /run/secrets, say) is refused, not followed. Once in
# the directory, tar archives links as links and opens nothing through one.
filestore() {
  if [ ! -d "$src" ]; then tar -cf - -T /dev/null; return; fi
  cd -P -- "$src"
  if [ "$(pwd -P)" != "$src" ]; then echo "filestore/$DB_NAME is reached through a symbolic link: refused" >&2; return 1; fi
  tar -cf - .
}
# The archive is hashed as it is written; the dump cannot be: pg_dump rewrites its table of contents at the end. In a
# subshell, so that waiting for it gives the whole pipeline's status (a refusal, or tar's error), not sha256's.
(filestore | tee "$work/${FILESTORE_FILE}" | sha256 >"$work/.filestore.sha256") &
archive=$!
wait "$dump"
dump_sha=$(sha256 "$work/${DUMP_FILE}")
wait "$archive"
wait "$version"
if [ -n "\${SNAPSHOT:-}" ]; then
  eval "exec \${held[1]}>&-"
  rmdir "/data/.snap/$SNAPSHOT"
fi
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
${SHA256_FUNCTION}
verify() { [ "$(sha256 "/backup/$1")" = "$2" ] || { echo "$1: sha256 does not match the manifest" >&2; return 1; }; }
{ verify ${DUMP_FILE} "$DUMP_SHA256" && verify ${FILESTORE_FILE} "$FILESTORE_SHA256"; } &
verify=$!
target="/data/filestore/$FILESTORE_NEW"
waited=0
until [ -d "$target" ]; do
  waited=$((waited + 1))
  if [ "$waited" -gt $((${TARGET_WAIT_SECONDS} * 50)) ]; then echo "$DATABASE_NEW and its filestore directory were not made" >&2; exit 1; fi
  sleep 0.02
done
cd -P -- "$target"
if [ "$(pwd -P)" != "$target" ]; then echo "filestore/$FILESTORE_NEW is reached through a symbolic link: refused" >&2; exit 1; fi
pg_restore --no-owner --no-privileges --exit-on-error --role="$DB_ROLE" -j 2 -d "$DATABASE_NEW" /backup/${DUMP_FILE} &
restore=$!
tar -xpf /backup/${FILESTORE_FILE}
wait "$restore"
wait "$verify"
`;

/**
 * Odoo's database manager restores plain SQL: the custom dump converted, without owners or grants of the old role,
 * once its sha256 matches the manifest's.
 */
const EXPORT_SCRIPT = `set -euo pipefail
umask 022
${SHA256_FUNCTION}
[ "$(sha256 "/backups/$BACKUP_ID/${DUMP_FILE}")" = "$DUMP_SHA256" ] || { echo "${DUMP_FILE}: sha256 does not match the manifest" >&2; exit 1; }
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
      User: `${base.uid}:${base.uid}`,
      CapabilityDrop: ['ALL'],
      ...(secret ? { Secrets: [secretFile(secret, 'pgpass', base.uid)] } : {}),
    },
    // One try: the daemon decides what a failure means (a final backup is asked for again, a restore undone).
    RestartPolicy: { Condition: 'none', Delay: 0, MaxAttempts: 0 },
    // Attaching an overlay network costs a job about half a second: only when it must reach a pool by service name.
    ...(base.network ? { Networks: onNetwork(base.network) } : {}),
  });
}

export interface BackupJobInput extends JobBase {
  backupId: string;
  /**
   * The CephFS snapshot of the data dir to take when the database's is taken, and archive the filestore from (the job
   * removes it; so does the daemon, should the job not get there); null on a plain directory: the live tree.
   */
  snapshot: string | null;
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
      ...(input.snapshot ? [`SNAPSHOT=${input.snapshot}`] : []),
    ],
    [
      { Type: 'bind', Source: instanceBackupsDir(input.cephfsRoot, input.instanceId), Target: '/backups' },
      // A snapshot is made (mkdir .snap/<name>) through a writable mount; the files are only read.
      { Type: 'bind', Source: instanceDataDir(input.cephfsRoot, input.instanceId), Target: '/data', ReadOnly: !input.snapshot },
    ],
    input.pool.secret,
  );

export interface RestoreJobInput extends JobBase {
  /** The backup's own instance and id: where its files are. */
  source: { instanceId: string; backupId: string; dumpSha256: string; filestoreSha256: string };
  db: { newName: string; role: string };
  filestoreNewDir: string;
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
  /** The dump's sha256 as the manifest records it: a dump that does not match is not exported. */
  dumpSha256: string;
}

/** The one-shot job that writes a backup's database as plain SQL for a download; it needs no database server. Pure. */
export const exportJobSpec = (input: ExportJobInput): ServiceSpec =>
  jobSpec(
    input,
    'backup',
    EXPORT_SCRIPT,
    [`BACKUP_ID=${input.backupId}`, `EXPORT_ID=${input.exportId}`, `DUMP_SHA256=${input.dumpSha256}`],
    [{ Type: 'bind', Source: instanceBackupsDir(input.cephfsRoot, input.instanceId), Target: '/backups' }],
  );
