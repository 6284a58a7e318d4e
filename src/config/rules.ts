import cron from 'node-cron';
import { z } from 'zod';

/** Building blocks the config sections share: each one states its rule the way a problem line reports it. */

declare module 'zod' {
  interface GlobalMeta {
    /** What docs/configuration.md shows as the default where the schema has none to show: it is derived, or lies outside the daemon. */
    shownDefault?: string;
  }
}

export const hostname = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
export const dockerName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
export const dnsLabel = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const urlWithScheme = (schemes: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return schemes.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    `must be a URL starting with ${schemes.map((s) => `${s}//`).join(' or ')}`,
  );

export const int = (min: number, max: number) => {
  const rule = `must be an integer from ${min} to ${max}`;
  return z.coerce.number({ message: rule }).int(rule).min(min, rule).max(max, rule);
};

/** Checked at start-up, so a leader never fails on a schedule half-way through starting its jobs. */
export const cronExpression = z
  .string()
  .refine((value) => cron.validate(value), 'must be a cron expression (5 or 6 fields, as node-cron reads them)');

export const base64Key = z.string().refine((value) => Buffer.from(value, 'base64').length === 32, 'must be 32 bytes encoded in base64');

export const isLoopback = (host: string) => host === 'localhost' || host === '127.0.0.1' || host === '[::1]';

/** An origin as a browser sends it: scheme, host and port only. */
export const origin = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return ['http:', 'https:'].includes(url.protocol) && url.origin === value;
  } catch {
    return false;
  }
}, 'must list origins such as https://admin.example.com (scheme, host and port only), separated by commas');

/** `a,b,,c ` as ['a', 'b', 'c']. */
export const commaList = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
