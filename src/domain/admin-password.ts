import { generatePassword } from '../crypto/passwords.js';
import { odooPasswordHash } from '../crypto/odoo-password.js';
import type { InstanceRow, InstanceStatus } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { DomainError, notFound } from '../errors.js';
import { recordEvent, type Trigger } from './instance-events.js';
import { isUuid } from './names.js';
import { withTenantDatabase } from './tenant-database.js';
import { lockInstance } from './instance-lock.js';
import { withTransaction } from '../db/transaction.js';

/** Odoo 17's base data makes `base.user_admin` the user with id 2 (id 1 is the inactive `__system__`). */
const ADMIN_USER_ID = 2;
const ADMIN_PASSWORD_LENGTH = 24;

export interface AdminCredentials {
  login: string;
  password: string;
}

/**
 * Gives Odoo's admin user the login `login` (and its partner that e-mail) and `password`, stored only as the hash
 * Odoo verifies. The password itself goes nowhere: not to the pool, a row, a log line or an event.
 */
export async function writeAdminCredentials(
  deps: Pick<Deps, 'db' | 'config'>,
  instance: InstanceRow,
  credentials: AdminCredentials,
): Promise<void> {
  const hash = await odooPasswordHash(credentials.password);
  await withTenantDatabase(deps, instance, async (client) => {
    const updated = await client.query(
      "update res_users set login = $1, password = $2, write_date = now() at time zone 'UTC' where id = $3",
      [credentials.login, hash, ADMIN_USER_ID],
    );
    if (updated.rowCount !== 1) throw new Error(`the tenant database has no admin user (res_users id ${ADMIN_USER_ID})`);
    await client.query('update res_partner set email = $1 where id = (select partner_id from res_users where id = $2)', [
      credentials.login,
      ADMIN_USER_ID,
    ]);
  });
}

/** Between initialisation and RUNNING: the admin logs in with the instance's adminEmail and a password nobody is told. */
export async function replaceDefaultAdmin(deps: Pick<Deps, 'db' | 'config'>, instance: InstanceRow): Promise<void> {
  await writeAdminCredentials(deps, instance, { login: instance.admin_email, password: generatePassword(ADMIN_PASSWORD_LENGTH) });
}

const resettable: InstanceStatus[] = ['PROVISIONING', 'RUNNING', 'STOPPING', 'STOPPED', 'STARTING', 'RESTARTING', 'FAILED'];

/**
 * A fresh admin password for the instance's owner, returned once; it replaces the previous one. The row stays
 * locked meanwhile, so concurrent resets apply one after the other and each caller gets the password it set.
 * The event records who reset it, never the password.
 */
export async function resetInstanceAdminPassword(
  deps: Deps,
  instanceId: string,
  trigger: Trigger = { cause: 'resetInstanceAdminPassword', actor: 'admin' },
): Promise<AdminCredentials> {
  if (!isUuid(instanceId)) throw notFound('Instance', instanceId);
  return withTransaction(deps.db, async (trx) => {
    const instance = await lockInstance(trx, instanceId);
    if (!instance.initialized_at || !resettable.includes(instance.status)) {
      throw new DomainError(
        'CONFLICT',
        `Instance ${instanceId} is ${instance.status} and its database is not initialised yet: try again once it runs.`,
      );
    }
    const credentials = { login: instance.admin_email, password: generatePassword(ADMIN_PASSWORD_LENGTH) };
    await writeAdminCredentials(deps, instance, credentials);
    await recordEvent(deps, trx, instanceId, trigger, `admin password reset for ${credentials.login}`);
    deps.log.info({ event: 'instance.admin_password_reset', instanceId, actor: trigger.actor }, 'admin password reset');
    return credentials;
  });
}
