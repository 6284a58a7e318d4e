import { execFileSync } from 'node:child_process';
import type pg from 'pg';
import type { DbCredentials } from '../../src/domain/allocation/credentials.js';
import { labelKeys } from '../../src/swarm/labels.js';
import { connectAsTenant, type TestDaemon } from './harness.js';

/**
 * What a tenant can do on its own: every customer gets Odoo's admin, and an Odoo admin runs SQL as the tenant's role
 * and code as uid 101 (Odoo's user) in its container, where it owns its data directory.
 */
export const TENANT_UID = 101;

/** An SQL session as the tenant's own role, with the password its Odoo has (in `database`, its own by default). */
export const tenantSql = (credentials: DbCredentials, database?: string): Promise<pg.Client> => connectAsTenant(credentials, database);

/** Runs `sql` as the tenant, then closes the session. */
export async function asTenant<T = unknown>(credentials: DbCredentials, sql: string, database?: string): Promise<T[]> {
  const client = await tenantSql(credentials, database);
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

/** Runs a shell script as uid 101 inside the tenant's running Odoo container (a server action's `os.system`). */
export async function inTenantContainer(daemon: TestDaemon, instanceId: string, script: string): Promise<string> {
  const [container] = await daemon.deps.docker.listContainers({
    filters: { label: [`${labelKeys.instanceId}=${instanceId}`, `${labelKeys.role}=server`], status: ['running'] },
  });
  if (!container) throw new Error(`no running Odoo container for instance ${instanceId}`);
  const exec = await daemon.deps.docker
    .getContainer(container.Id)
    .exec({ Cmd: ['sh', '-c', script], User: String(TENANT_UID), AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  await new Promise((resolve) => stream.on('end', resolve));
  const { ExitCode } = await exec.inspect();
  const output = Buffer.concat(chunks).toString('utf8');
  if (ExitCode !== 0) throw new Error(`exit ${ExitCode}: ${output}`);
  return output;
}

/** Runs a command on the host as uid 101, as the tenant's files are touched while its Odoo is stopped. */
export function asTenantUid(command: string[]): string {
  return execFileSync('setpriv', [`--reuid=${TENANT_UID}`, `--regid=${TENANT_UID}`, '--clear-groups', ...command], { encoding: 'utf8' });
}
