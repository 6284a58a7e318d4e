import type pg from 'pg';
import { generatePassword } from '../../crypto/passwords.js';
import { odooPasswordHash } from '../../crypto/odoo-password.js';
import type { InstanceRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { DomainError, notFound } from '../../errors.js';
import { recordEvent, type Trigger } from './instance-events.js';
import { isUuid } from '../names.js';
import { withTenantDatabase } from './tenant-database.js';
import { takeAllowance, withRedisLock } from '../caller-limits.js';
import type { LoginDeps } from './tenant-login.js';
import { allows } from './instance-policy.js';

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
export async function writeAdminCredentials(deps: LoginDeps, instance: InstanceRow, credentials: AdminCredentials): Promise<void> {
  const hash = await odooPasswordHash(credentials.password);
  await withTenantDatabase(deps, instance, (client) => setAdminLogin(client, credentials.login, hash));
}

/** Inside the tenant's database: Odoo's admin user logs in as `login` with the password behind `hash` (and its partner has that e-mail). */
export async function setAdminLogin(client: pg.ClientBase, login: string, hash: string): Promise<void> {
  const updated = await client.query(
    "update res_users set login = $1, password = $2, write_date = now() at time zone 'UTC' where id = $3",
    [login, hash, ADMIN_USER_ID],
  );
  if (updated.rowCount !== 1) throw new Error(`the tenant database has no admin user (res_users id ${ADMIN_USER_ID})`);
  await client.query('update res_partner set email = $1 where id = (select partner_id from res_users where id = $2)', [
    login,
    ADMIN_USER_ID,
  ]);
}

/** A password for the admin that nobody is told, as the hash Odoo verifies: the owner resets it to log in. */
export const untoldAdminPasswordHash = (): Promise<string> => odooPasswordHash(generatePassword(ADMIN_PASSWORD_LENGTH));

/** Between initialisation and RUNNING: the admin logs in with the instance's adminEmail and a password nobody is told. */
export async function replaceDefaultAdmin(deps: LoginDeps, instance: InstanceRow): Promise<void> {
  await writeAdminCredentials(deps, instance, { login: instance.admin_email, password: generatePassword(ADMIN_PASSWORD_LENGTH) });
}

/** A customer's resets (all its instances together) within a window: enough for a person, not for a flood. */
const CUSTOMER_RESETS = 5;
const CUSTOMER_RESET_WINDOW_SECONDS = 600;
/** Resets of one instance run one at a time; a second caller waits this long for the first. */
const RESET_LOCK = { holdMs: 120_000, waitMs: 30_000 };

/**
 * A fresh admin password for the instance's owner, returned once; it replaces the previous one. Resets of one
 * instance run one after the other (a Redis lock, so each caller gets the password it set), and nothing holds a row
 * or a control database connection across the hash and the tenant's database. Customers have a bounded number of
 * resets per window. The event records who reset it, never the password.
 */
export async function resetInstanceAdminPassword(
  deps: Deps,
  instanceId: string,
  trigger: Trigger = { cause: 'resetInstanceAdminPassword', actor: 'admin' },
): Promise<AdminCredentials> {
  if (!isUuid(instanceId)) throw notFound('Instance', instanceId);
  const instance = await deps.db.selectFrom('instances').selectAll().where('id', '=', instanceId).executeTakeFirst();
  if (!instance) throw notFound('Instance', instanceId);
  assertResettable(instance);
  if (trigger.actor.startsWith('customer:'))
    await takeAllowance(deps.redis, `reset:${trigger.actor}`, CUSTOMER_RESETS, CUSTOMER_RESET_WINDOW_SECONDS, 'admin password resets');
  const busy = `Another admin password reset of instance ${instanceId} is under way: try again shortly.`;
  return withRedisLock(deps.redis, `reset:${instanceId}`, { ...RESET_LOCK, busy }, async () => {
    const current = await deps.db.selectFrom('instances').selectAll().where('id', '=', instanceId).executeTakeFirstOrThrow();
    assertResettable(current);
    const credentials = { login: current.admin_email, password: generatePassword(ADMIN_PASSWORD_LENGTH) };
    await writeAdminCredentials(deps, current, credentials);
    await recordEvent(deps, deps.db, instanceId, trigger, `admin password reset for ${credentials.login}`);
    deps.log.info({ event: 'instance.admin_password_reset', instanceId, actor: trigger.actor }, 'admin password reset');
    return credentials;
  });
}

function assertResettable(instance: InstanceRow): void {
  if (!instance.initialized_at || !allows('adminPasswordResettable', instance.status)) {
    throw new DomainError(
      'CONFLICT',
      `Instance ${instance.id} is ${instance.status} and its database is not initialised yet: try again once it runs.`,
    );
  }
}
