/**
 * A second PostgreSQL server on this machine for the two-pool bench: a cluster of the installed major version,
 * made with Debian's pg_createcluster on a port of its own, removed afterwards (and first, if a killed run left it).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

const CLUSTER = 'orch_bench';

export interface SecondServer {
  host: string;
  port: number;
  adminUser: string;
  adminPassword: string;
  remove: () => void;
}

const run = (command: string, args: string[]) => execFileSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

function installedVersion(): string {
  const clusters = run('pg_lsclusters', ['--no-header']).trim().split('\n');
  const version = clusters[0]?.split(/\s+/)[0];
  if (!version) throw new Error('pg_lsclusters lists no cluster to take the version from');
  return version;
}

function removeCluster(version: string): void {
  if (
    run('pg_lsclusters', ['--no-header'])
      .split('\n')
      .some((line) => line.split(/\s+/)[1] === CLUSTER)
  ) {
    run('pg_dropcluster', ['--stop', version, CLUSTER]);
  }
}

export function startSecondServer(port: number): SecondServer {
  const version = installedVersion();
  removeCluster(version);
  run('pg_createcluster', [
    version,
    CLUSTER,
    '-p',
    String(port),
    '--start',
    '-o',
    'max_connections=200',
    '-o',
    'password_encryption=scram-sha-256',
  ]);
  const adminPassword = randomBytes(18).toString('base64url');
  run('runuser', [
    '-u',
    'postgres',
    '--',
    'psql',
    '-X',
    '-q',
    '-p',
    String(port),
    '-v',
    'ON_ERROR_STOP=1',
    '-c',
    `create role bench_admin login superuser password '${adminPassword}'`,
  ]);
  return { host: '127.0.0.1', port, adminUser: 'bench_admin', adminPassword, remove: () => removeCluster(version) };
}
