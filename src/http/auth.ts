import type { Caller } from '../access/caller.js';
import { sameSecret } from '../crypto/same-secret.js';
import { isUuid } from '../domain/names.js';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config/config.js';

/** The token of a `Bearer` Authorization header; null for anything else (Basic, which browsers resend by themselves). */
export function bearerToken(authorization: string | null | undefined): string | null {
  const [scheme, value] = (authorization ?? '').trim().split(/\s+/, 2);
  return scheme?.toLowerCase() === 'bearer' && value ? value : null;
}

function bearerOrBasic(authorization: string | null): string | undefined {
  const [scheme, value] = (authorization ?? '').trim().split(/\s+/, 2);
  if (scheme?.toLowerCase() === 'bearer') return value;
  if (scheme?.toLowerCase() === 'basic' && value) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    return decoded.slice(decoded.indexOf(':') + 1);
  }
  return undefined;
}

export type IdentifyCaller = (authorization: string | null) => Promise<Caller>;

/**
 * Admins present the admin token (`Bearer`, or `Basic` with the token as password so a browser can open GraphiQL).
 * The frontend presents a customer's JWT (HS256 secret or a JWKS) whose `sub` is the customer id and which carries `exp`.
 */
export function callerIdentifier(config: Pick<Config, 'adminToken' | 'customerAuth'>): IdentifyCaller {
  const { hs256Secret, jwksUrl, issuer, audience } = config.customerAuth;
  const jwks: JWTVerifyGetKey | null = jwksUrl ? createRemoteJWKSet(new URL(jwksUrl)) : null;
  const secret = hs256Secret ? new TextEncoder().encode(hs256Secret) : null;
  // A token without `exp` would be good forever: refused. `iss`/`aud` are checked when configured.
  const options = { requiredClaims: ['exp'], ...(issuer ? { issuer } : {}), ...(audience ? { audience } : {}) };

  return async (authorization) => {
    const token = bearerOrBasic(authorization);
    if (!token) return { kind: 'anonymous' };
    if (sameSecret(token, config.adminToken)) return { kind: 'admin' };
    if (!token.includes('.') || (!secret && !jwks)) return { kind: 'anonymous' };
    try {
      const { payload } = secret
        ? await jwtVerify(token, secret, { ...options, algorithms: ['HS256'] })
        : await jwtVerify(token, jwks!, options);
      return payload.sub && isUuid(payload.sub) ? { kind: 'customer', customerId: payload.sub.toLowerCase() } : { kind: 'anonymous' };
    } catch {
      return { kind: 'anonymous' };
    }
  };
}
