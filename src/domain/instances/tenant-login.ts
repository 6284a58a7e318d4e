import pg from 'pg';
import { generatePassword, scramSha256VerifierAsync } from '../../crypto/passwords.js';
import { sealSecret, unsealSecret } from '../../crypto/secret-box.js';
import type { Deps } from '../../deps.js';
import { tenantMaintenanceRoleName, tenantRoleName } from '../names.js';
import { ensureMaintenanceRole } from '../../db/pool-server.js';
import { poolOfInstance } from '../pools/pools.js';

/**
 * A tenant's maintenance login: what the daemon and its jobs log in as to work inside the tenant's database (admin
 * resets, dumps, restores). It is a member of the tenant's role and of nothing else, so whatever the tenant's own
 * objects run in its sessions (a trigger, a CHECK function during a restore's COPY, after `SET ROLE NONE`) has the
 * tenant's rights and no more. The pool admin only makes and drops roles and databases.
 */
export interface TenantLogin {
  /** The maintenance role (what logs in). */
  user: string;
  password: string;
  /** The tenant's role, which a session sets so that what it writes is the tenant's. */
  tenantRole: string;
}

const PASSWORD_LENGTH = 32;

/** SQLSTATEs of a login that did not get in: a wrong password, or no such role (yet). */
const refusedLogin = new Set(['28P01', '28000']);
export const isRefusedLogin = (error: unknown): boolean => error instanceof pg.DatabaseError && refusedLogin.has(error.code ?? '');

/**
 * The login's password, made the first time it is needed: a tenant allocated before maintenance logins existed gets
 * one then, as does one whose sealed password MASTER_KEY no longer opens. `fresh` says the pool has not been told yet.
 * Concurrent callers agree on one password (the row decides).
 */
async function loginPassword(deps: Pick<Deps, 'db' | 'config'>, instanceId: string): Promise<{ password: string; fresh: boolean }> {
  const key = deps.config.masterKey;
  const stored = await deps.db
    .selectFrom('tenant_logins')
    .select('password_encrypted')
    .where('instance_id', '=', instanceId)
    .executeTakeFirst();
  if (stored) {
    try {
      return { password: unsealSecret(stored.password_encrypted, key), fresh: false };
    } catch {
      // Sealed under a key that is gone: a new password replaces it (the pool admin sets it on the role).
    }
  }
  const password = generatePassword(PASSWORD_LENGTH);
  const sealed = sealSecret(password, key);
  const written = stored
    ? await deps.db
        .updateTable('tenant_logins')
        .set({ password_encrypted: sealed })
        .where('instance_id', '=', instanceId)
        .where('password_encrypted', '=', stored.password_encrypted)
        .returning('instance_id')
        .executeTakeFirst()
    : await deps.db
        .insertInto('tenant_logins')
        .values({ instance_id: instanceId, password_encrypted: sealed })
        .onConflict((oc) => oc.column('instance_id').doNothing())
        .returning('instance_id')
        .executeTakeFirst();
  return written ? { password, fresh: true } : loginPassword(deps, instanceId);
}

export type LoginDeps = Pick<Deps, 'db' | 'config' | 'poolConnections'>;

/** Gives the pool the maintenance role with its password (made, or repaired), over a kept admin connection. */
export async function repairTenantLogin(
  deps: LoginDeps,
  instance: { id: string; db_server_id: string | null },
  login: TenantLogin,
): Promise<void> {
  const [pool, verifier] = await Promise.all([poolOfInstance(deps.db, instance), scramSha256VerifierAsync(login.password)]);
  await deps.poolConnections.use(pool, (client) =>
    ensureMaintenanceRole(client, { role: login.user, tenantRole: login.tenantRole }, verifier),
  );
}

/** The instance's maintenance login as the control database keeps it; `fresh`: the pool has not been told yet. */
export async function storedLogin(deps: Pick<Deps, 'db' | 'config'>, instanceId: string): Promise<{ login: TenantLogin; fresh: boolean }> {
  const { password, fresh } = await loginPassword(deps, instanceId);
  return { login: { user: tenantMaintenanceRoleName(instanceId), password, tenantRole: tenantRoleName(instanceId) }, fresh };
}

/** The instance's maintenance login, made on the pool first when it is new. */
export async function tenantLogin(deps: LoginDeps, instance: { id: string; db_server_id: string | null }): Promise<TenantLogin> {
  const { login, fresh } = await storedLogin(deps, instance.id);
  if (fresh) await repairTenantLogin(deps, instance, login);
  return login;
}

/**
 * Runs `attempt` with the instance's maintenance login; a login the pool refuses (made by a caller that has not told
 * the pool yet, or whose password the tenant changed from a session of it) is repaired once and tried again.
 */
export async function withTenantLogin<T>(
  deps: LoginDeps,
  instance: { id: string; db_server_id: string | null },
  attempt: (login: TenantLogin) => Promise<T>,
): Promise<T> {
  const login = await tenantLogin(deps, instance);
  try {
    return await attempt(login);
  } catch (error) {
    if (!isRefusedLogin(error)) throw error;
    await repairTenantLogin(deps, instance, login);
    return attempt(login);
  }
}
