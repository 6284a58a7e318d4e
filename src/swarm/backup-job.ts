import { posix } from 'node:path';
import type { BindMount, ServiceSpec } from './docker-types.js';
import { roleLabels, type InstanceServiceRole, type Labels } from './labels.js';
import { instanceDataDir } from '../storage/layout.js';
import { jobScript, type JobScriptName } from './job-scripts.js';
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

/** How long a restore job waits for the daemon to make what it loads into. */
const TARGET_WAIT_SECONDS = 60;

/** Where a job's container sees an instance's backups, one backup, and the instance's data dir. */
const BACKUPS_TARGET = '/backups';
const BACKUP_TARGET = '/backup';
const DATA_TARGET = '/data';

function jobSpec(
  base: JobBase,
  role: InstanceServiceRole,
  script: JobScriptName,
  env: string[],
  mounts: BindMount[],
  secret?: PoolReach['secret'],
): ServiceSpec {
  const labels = roleLabels(base.instanceId, role, base.extraLabels);
  return oneShotJob(base.name, labels, {
    ContainerSpec: {
      Image: base.image,
      Labels: labels,
      Command: ['bash', '-c', jobScript(script)],
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
    'backup.sh',
    [
      ...poolEnv(input.pool),
      `BACKUPS_DIR=${BACKUPS_TARGET}`,
      `DATA_DIR=${DATA_TARGET}`,
      `BACKUP_ID=${input.backupId}`,
      `INSTANCE_ID=${input.instanceId}`,
      `DB_NAME=${input.db.name}`,
      `DB_ROLE=${input.db.role}`,
      `ODOO_VERSION=${input.odooVersion}`,
      ...(input.snapshot ? [`SNAPSHOT=${input.snapshot}`] : []),
    ],
    [
      { Type: 'bind', Source: instanceBackupsDir(input.cephfsRoot, input.instanceId), Target: BACKUPS_TARGET },
      // A snapshot is made (mkdir .snap/<name>) through a writable mount; the files are only read.
      { Type: 'bind', Source: instanceDataDir(input.cephfsRoot, input.instanceId), Target: DATA_TARGET, ReadOnly: !input.snapshot },
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
    'restore.sh',
    [
      ...poolEnv(input.pool),
      `BACKUP_DIR=${BACKUP_TARGET}`,
      `DATA_DIR=${DATA_TARGET}`,
      `DATABASE_NEW=${input.db.newName}`,
      `DB_ROLE=${input.db.role}`,
      `FILESTORE_NEW=${input.filestoreNewDir}`,
      `DUMP_SHA256=${input.source.dumpSha256}`,
      `FILESTORE_SHA256=${input.source.filestoreSha256}`,
      `TARGET_WAIT_SECONDS=${TARGET_WAIT_SECONDS}`,
    ],
    [
      {
        Type: 'bind',
        Source: backupDir(input.cephfsRoot, input.source.instanceId, input.source.backupId),
        Target: BACKUP_TARGET,
        ReadOnly: true,
      },
      { Type: 'bind', Source: instanceDataDir(input.cephfsRoot, input.instanceId), Target: DATA_TARGET },
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
    'export.sh',
    [`BACKUPS_DIR=${BACKUPS_TARGET}`, `BACKUP_ID=${input.backupId}`, `EXPORT_ID=${input.exportId}`, `DUMP_SHA256=${input.dumpSha256}`],
    [{ Type: 'bind', Source: instanceBackupsDir(input.cephfsRoot, input.instanceId), Target: BACKUPS_TARGET }],
  );
