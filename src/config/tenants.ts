import { z } from 'zod';
import { commaList, cronExpression, dnsLabel, hostname, int } from './rules.js';

/** An Odoo series as tenants choose it: `17.0`, `18.0`. */
const odooVersion = /^[1-9][0-9]?\.[0-9]$/;
/** A Docker image reference, as `docker pull` takes it (no spaces, no `=` or `,`). */
const imageReference = /^[a-z0-9][a-z0-9._\-/:@]*$/i;

/** `17.0=odoo:17.0,18.0=odoo:18.0`: the versions offered and the image each one runs, in the order given. */
const odooImages = z
  .string()
  .refine(
    (value) =>
      commaList(value).every((pair) => {
        const [version = '', image = '', ...rest] = pair.split('=');
        return odooVersion.test(version.trim()) && imageReference.test(image.trim()) && rest.length === 0;
      }),
    'must be version=image pairs separated by commas, such as 17.0=odoo:17.0,18.0=odoo:18.0',
  )
  .refine(
    (value) => new Set(commaList(value).map((pair) => pair.split('=')[0]!.trim())).size === commaList(value).length,
    'must name each version once',
  )
  .refine((value) => commaList(value).length > 0, 'must name at least one version');

const parseOdooImages = (value: string): Record<string, string> =>
  Object.fromEntries(commaList(value).map((pair) => pair.split('=').map((part) => part.trim()) as [string, string]));

/** How tenants get their database, run, are named and routed, and are followed to RUNNING. */
export const tenantSection = z
  .object({
    ODOO_IMAGE: z
      .string()
      .regex(imageReference, 'must be a Docker image reference')
      .default('odoo:17.0')
      .describe('the image of Odoo 17.0 when `ODOO_IMAGES` is not set'),
    ODOO_IMAGES: odooImages
      .optional()
      .describe(
        '`version=image,...` (`17.0=odoo:17.0,18.0=odoo:18.0`): the Odoo versions `createInstance` accepts (`odooVersions` lists them) and the image each runs; recorded on an instance when it is provisioned',
      )
      .meta({ shownDefault: '`17.0=$ODOO_IMAGE`' }),
    BASE_DOMAIN: z
      .string()
      .regex(hostname, 'must be a lower-case DNS name')
      .default('localhost')
      .describe('tenants answer on `<subdomain>.<BASE_DOMAIN>`'),
    CREDENTIALS_TTL_SECONDS: int(60, 7 * 24 * 3600)
      .default(3600)
      .describe('how long credentials wait in Redis for provisioning'),
    TENANT_CONNECTION_LIMIT: int(1, 10_000).default(32).describe('connection limit of each tenant role'),
    PROVISION_TRACKING_CRON: cronExpression
      .default('* * * * * *')
      .describe("the reconciler's tick: instances in flight, serving, waiting for a database, past a deadline or terminating"),
    PROVISION_DEADLINE_SECONDS: int(10, 24 * 3600)
      .default(600)
      .describe('after this, an instance not running is `FAILED`'),
    // Swarm reads 0 as "restart forever", which would never let an instance fail.
    ODOO_RESTART_MAX_ATTEMPTS: int(1, 100).default(3).describe('Swarm restarts before an instance is `FAILED`'),
    ODOO_RESTART_DELAY_SECONDS: int(0, 3600)
      .default(5)
      .describe('how long Swarm waits before it starts a failed Odoo task (server or init job) again'),
    ODOO_HEALTH_INTERVAL_SECONDS: int(1, 300)
      .default(5)
      .describe("how often Docker checks a tenant's Odoo; a start reads `RUNNING` at the first passing check (tests: 1)"),
    ODOO_HEALTH_START_SECONDS: int(0, 3600)
      .default(60)
      .describe('how long after a start failed checks do not count (Odoo loads its registry meanwhile)'),
    ODOO_STOP_GRACE_SECONDS: int(1, 600)
      .default(10)
      .describe(
        'how long a stopping Odoo has before it is killed: its workers end their requests within about a second of SIGTERM, then spend seconds of CPU freeing their memory (5-20 s measured at 1 CPU)',
      ),
    ODOO_UID: int(0, 2 ** 31)
      .default(101)
      .describe("owner of a tenant's data directory (the image's `odoo` user)"),
    FILESTORE_ON_TERMINATE: z
      .enum(['keep', 'archive'])
      .default('keep')
      .describe("`keep` a terminated tenant's filestore in place, or `archive` it under `odoo_instances_archive/`"),
    STAGING_TTL_DAYS: int(1, 3650)
      .default(14)
      .describe('days a staging copy lives unless renewed (`renewStaging`); then the reconciler terminates it (a `FINAL` backup first)'),
    TLS_MODE: z
      .enum(['per-host', 'wildcard'])
      .default('per-host')
      .describe(
        "`per-host`: a certificate per tenant host; `wildcard`: every tenant router uses one `*.BASE_DOMAIN` certificate (the resolver must use a DNS challenge; Let's Encrypt issues 50 certificates per domain a week)",
      ),
    TLS_CERT_RESOLVER: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,63}$/, 'must be a Traefik certificate resolver name')
      .default('letsencrypt')
      .describe('the Traefik certificate resolver of tenant routers'),
    ORCHESTRATOR_DOMAIN: z
      .string()
      .regex(hostname, 'must be a lower-case DNS name')
      .optional()
      .describe(
        'the host name Traefik routes to the API; its first label (`orchestrator` of `orchestrator.example.com`) is refused to tenants as a subdomain (`VALIDATION_FAILED`)',
      ),
    RESERVED_SUBDOMAINS: z
      .string()
      .refine((value) => value.split(',').every((name) => dnsLabel.test(name.trim())), 'must be lower-case DNS labels separated by commas')
      .optional()
      .describe(
        "comma-separated subdomains refused to tenants (`VALIDATION_FAILED`) beyond the platform's own (`orchestrator`, `killbill`, `traefik`, `grafana`, `prometheus`, `api`, `www`, `admin`, `mail`, ...)",
      ),
    ODOO_EXTRA_ENV: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*=[^,]*(,[A-Z_][A-Z0-9_]*=[^,]*)*$/, 'must be KEY=value pairs separated by commas')
      .refine((value) => !/(^|,)[A-Z0-9_]*PASSWORD[A-Z0-9_]*=/.test(value), 'must not carry a password')
      .optional()
      .describe("`KEY=value,...` added to every Odoo container's environment (tests: `STANDIN_INIT_SECONDS=8`); no passwords"),
  })
  .transform((e) => ({
    /** The Odoo versions tenants may choose and the image each runs (ODOO_IMAGES; without it, 17.0 runs ODOO_IMAGE). */
    odooImages: e.ODOO_IMAGES ? parseOdooImages(e.ODOO_IMAGES) : { '17.0': e.ODOO_IMAGE },
    baseDomain: e.BASE_DOMAIN,
    credentialsTtlSeconds: e.CREDENTIALS_TTL_SECONDS,
    tenantConnectionLimit: e.TENANT_CONNECTION_LIMIT,
    provisionTrackingCron: e.PROVISION_TRACKING_CRON,
    provisionDeadlineSeconds: e.PROVISION_DEADLINE_SECONDS,
    odooRestartMaxAttempts: e.ODOO_RESTART_MAX_ATTEMPTS,
    /** How long Swarm waits before it starts a failed Odoo task (server or init job) again. */
    odooRestartDelaySeconds: e.ODOO_RESTART_DELAY_SECONDS,
    /** How often Docker checks a tenant's Odoo: a start reads RUNNING at the first passing check, so at least this late. */
    odooHealthIntervalSeconds: e.ODOO_HEALTH_INTERVAL_SECONDS,
    /** How long a starting Odoo's failed health checks do not count: its registry loads meanwhile. */
    odooHealthStartSeconds: e.ODOO_HEALTH_START_SECONDS,
    /**
     * How long a stopping Odoo has before it is killed. Its workers end their requests within about a second of SIGTERM,
     * then spend seconds of CPU freeing their memory at exit (measured: 5-20 s at 1 CPU); Docker's default is 10 s.
     */
    odooStopGraceSeconds: e.ODOO_STOP_GRACE_SECONDS,
    odooUid: e.ODOO_UID,
    /** What happens to a terminated instance's filestore: kept in place, or moved under `odoo_instances_archive/`. */
    filestoreOnTerminate: e.FILESTORE_ON_TERMINATE,
    /** How long a staging copy lives unless renewed (createStaging, renewStaging). */
    stagingTtlDays: e.STAGING_TTL_DAYS,
    tenants: {
      /** `per-host`: one certificate per tenant host; `wildcard`: every tenant router shares `*.BASE_DOMAIN` (DNS challenge). */
      tlsMode: e.TLS_MODE,
      tlsCertResolver: e.TLS_CERT_RESOLVER,
      /** The host name of the orchestrator's own API (ORCHESTRATOR_DOMAIN), if it has one. */
      orchestratorDomain: e.ORCHESTRATOR_DOMAIN ?? null,
      /** Subdomains refused beyond the platform's built-in names: RESERVED_SUBDOMAINS and ORCHESTRATOR_DOMAIN's host. */
      reservedSubdomains: [...commaList(e.RESERVED_SUBDOMAINS), ...(e.ORCHESTRATOR_DOMAIN ? [e.ORCHESTRATOR_DOMAIN.split('.')[0]!] : [])],
      /** `KEY=value` entries added to every Odoo container's environment (tests: STANDIN_INIT_SECONDS). */
      odooExtraEnv: (e.ODOO_EXTRA_ENV ?? '').split(',').filter(Boolean),
    },
  }))
  .meta({ title: 'Tenants' });
