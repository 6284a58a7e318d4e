import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import { sealSecret, unsealSecret } from '../../crypto/secret-box.js';
import { resealAdminPassword } from './pool-state.js';

export class MasterKeyMismatch extends Error {
  override readonly name = 'MasterKeyMismatch';
}

const opens = (sealed: string, key: Buffer): boolean => {
  try {
    unsealSecret(sealed, key);
    return true;
  } catch {
    return false;
  }
};

/**
 * Proves at start-up that MASTER_KEY opens every pool admin password stored, instead of failing at allocation.
 * What only MASTER_KEY_PREVIOUS opens is sealed again under MASTER_KEY (key rotation); returns the pools re-sealed.
 * Throws MasterKeyMismatch naming the pools neither key opens.
 */
export async function checkMasterKey(db: Kysely<Database>, key: Buffer, previous: Buffer | null): Promise<string[]> {
  const pools = await db.selectFrom('db_servers').select(['id', 'name', 'admin_password_encrypted']).execute();
  const unreadable: string[] = [];
  const resealed: string[] = [];
  for (const pool of pools) {
    if (opens(pool.admin_password_encrypted, key)) continue;
    if (previous && opens(pool.admin_password_encrypted, previous)) {
      const fresh = sealSecret(unsealSecret(pool.admin_password_encrypted, previous), key);
      // Only if no one changed it meanwhile (another replica rotating at the same time).
      await resealAdminPassword(db, pool.id, pool.admin_password_encrypted, fresh);
      resealed.push(pool.name);
    } else {
      unreadable.push(pool.name);
    }
  }
  if (previous) await resealTenantLogins(db, key, previous);
  if (unreadable.length > 0) {
    throw new MasterKeyMismatch(
      `MASTER_KEY cannot decrypt the admin password of pool(s) ${unreadable.join(', ')}: it is not the key they were encrypted with` +
        (previous ? ' (nor is MASTER_KEY_PREVIOUS)' : '; to rotate keys, set MASTER_KEY_PREVIOUS to the former key'),
    );
  }
  return resealed;
}

/**
 * Tenants' maintenance login passwords sealed under MASTER_KEY_PREVIOUS, sealed again under MASTER_KEY. One neither
 * key opens needs no start-up check: the login gets a new password the next time it is needed.
 */
async function resealTenantLogins(db: Kysely<Database>, key: Buffer, previous: Buffer): Promise<void> {
  const logins = await db.selectFrom('tenant_logins').select(['instance_id', 'password_encrypted']).execute();
  for (const login of logins) {
    if (opens(login.password_encrypted, key) || !opens(login.password_encrypted, previous)) continue;
    await db
      .updateTable('tenant_logins')
      .set({ password_encrypted: sealSecret(unsealSecret(login.password_encrypted, previous), key) })
      .where('instance_id', '=', login.instance_id)
      .where('password_encrypted', '=', login.password_encrypted)
      .execute();
  }
}
