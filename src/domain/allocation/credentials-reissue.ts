import type { InstanceRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import type { DbCredentials } from './credentials.js';
import { newTenantSecret } from './allocation.js';
import { recordEvent, type Trigger } from '../instances/instance-events.js';
import type { Executor } from '../../db/transaction.js';
import { tenantDatabaseName, tenantRoleName } from '../names.js';
import { setRolePassword } from '../../db/pool-server.js';
import { poolOfInstance } from '../pools/pools.js';

/**
 * Credentials for an allocated instance whose Redis copy expired before any secret was made: the tenant's role gets
 * a new random password (as a SCRAM verifier computed here, as allocation sets it), so the old one stops working.
 * An event records the re-issue; the password stays in memory, for the caller to put in a Docker secret.
 */
export async function reissueCredentials(deps: Deps, executor: Executor, instance: InstanceRow, trigger: Trigger): Promise<DbCredentials> {
  if (!instance.db_server_id || !instance.db_host) throw new Error(`instance ${instance.id} has no database to re-issue credentials for`);
  const pool = await poolOfInstance(executor, instance);
  const { password, verifier } = newTenantSecret();
  const role = tenantRoleName(instance.id);
  const derived = await verifier;
  await deps.poolConnections.use(pool, (client) => setRolePassword(client, role, derived));
  await recordEvent(deps, executor, instance.id, trigger, `database credentials expired: role ${role} given a new password`);
  deps.log.info({ event: 'credentials.reissued', instanceId: instance.id, role }, 'database credentials re-issued');
  return {
    db_host: instance.db_host,
    db_port: instance.db_port ?? 5432,
    db_name: tenantDatabaseName(instance.id),
    db_user: role,
    db_password: password,
  };
}
