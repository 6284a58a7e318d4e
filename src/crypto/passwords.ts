import { createHash, createHmac, pbkdf2, randomBytes, randomInt } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A password of `length` characters drawn uniformly from letters and digits (safe in URLs, env files, CLIs). */
export function generatePassword(length = 32): string {
  let password = '';
  for (let i = 0; i < length; i++) password += ALPHABET[randomInt(ALPHABET.length)];
  return password;
}

/**
 * PostgreSQL's SCRAM-SHA-256 verifier for `password` (RFC 5802/7677, as `CREATE ROLE ... PASSWORD` accepts it),
 * so the plaintext never reaches the pool server, its statement log or its statistics. The key derivation runs on
 * libuv's thread pool: concurrent allocations do not queue on the event loop.
 */
export async function scramSha256VerifierAsync(password: string, iterations = 4096, salt = randomBytes(16)): Promise<string> {
  return verifierFrom(await pbkdf2Async(password.normalize('NFKC'), salt, iterations, 32, 'sha256'), iterations, salt);
}

function verifierFrom(salted: Buffer, iterations: number, salt: Buffer): string {
  const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest();
  const storedKey = createHash('sha256').update(hmac(salted, 'Client Key')).digest();
  const serverKey = hmac(salted, 'Server Key');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
