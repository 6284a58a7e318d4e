import type { Config } from '../../config/config.js';

/** The platform's own host names under BASE_DOMAIN: a tenant holding one could take the platform's traffic. */
const platformNames = [
  'orchestrator',
  'killbill',
  'kaui',
  'traefik',
  'grafana',
  'prometheus',
  'alertmanager',
  'api',
  'www',
  'admin',
  'app',
  'mail',
  'smtp',
  'imap',
  'pop',
  'ftp',
  'status',
  'auth',
  'login',
  'billing',
  'webhooks',
];

/** Pure: whether `subdomain` is the platform's (built in, RESERVED_SUBDOMAINS, or ORCHESTRATOR_DOMAIN's host). */
export const isReservedSubdomain = (config: Pick<Config, 'tenants'>, subdomain: string): boolean =>
  platformNames.includes(subdomain) || config.tenants.reservedSubdomains.includes(subdomain);
