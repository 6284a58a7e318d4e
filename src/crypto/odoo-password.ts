import { pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/** Odoo 17's CryptContext hashes with pbkdf2_sha512 at 600000 rounds. */
export const ODOO_PBKDF2_ROUNDS = 600_000;

/** passlib's "adapted base64": standard base64 with `.` for `+` and no padding. */
const ab64 = (bytes: Buffer): string => bytes.toString('base64').replace(/=+$/, '').replace(/\+/g, '.');

/**
 * A password hash in the format Odoo 17 stores in `res_users.password` and verifies with passlib:
 * `$pbkdf2-sha512$<rounds>$<ab64 salt>$<ab64 checksum>` (16-byte salt, 64-byte checksum). Computed off the event loop.
 */
export async function odooPasswordHash(password: string, rounds = ODOO_PBKDF2_ROUNDS, salt = randomBytes(16)): Promise<string> {
  const checksum = await pbkdf2Async(Buffer.from(password, 'utf8'), salt, rounds, 64, 'sha512');
  return `$pbkdf2-sha512$${rounds}$${ab64(salt)}$${ab64(checksum)}`;
}
