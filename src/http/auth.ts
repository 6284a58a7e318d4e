import { createHash, timingSafeEqual } from 'node:crypto';

export type Caller = { kind: 'admin' } | { kind: 'anonymous' };

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Compares digests so that neither the token's content nor its length leaks through timing. */
const sameSecret = (given: string, expected: string) => timingSafeEqual(digest(given), digest(expected));

/**
 * `Bearer <token>` for API clients; `Basic` (any user, the token as password) so a browser can open GraphiQL
 * and its same-origin requests carry the credentials the browser prompted for.
 */
export function identifyCaller(authorization: string | null, adminToken: string): Caller {
  const [scheme, value] = (authorization ?? '').trim().split(/\s+/, 2);
  let token: string | undefined;
  if (scheme?.toLowerCase() === 'bearer') token = value;
  if (scheme?.toLowerCase() === 'basic' && value) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    token = decoded.slice(decoded.indexOf(':') + 1);
  }
  return token && sameSecret(token, adminToken) ? { kind: 'admin' } : { kind: 'anonymous' };
}
