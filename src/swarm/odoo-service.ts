import { posix } from 'node:path';
import type { ServiceSpec } from './docker-types.js';
import { instanceLabels, type Labels } from './labels.js';
import { odooResources } from './odoo-resources.js';

export type { ServiceSpec } from './docker-types.js';

export interface OdooServiceInput {
  instance: { id: string; subdomain: string; cpuLimit: number; memoryLimitMb: number };
  serviceName: string;
  image: string;
  network: string;
  baseDomain: string;
  cephfsRoot: string;
  db: { host: string; port: number; name: string; user: string };
  secret: { id: string; name: string };
  restartMaxAttempts: number;
  /** The image's `odoo` user: it owns the data directory and must read the secret file. */
  odooUid: number;
  extraLabels?: Labels;
}

const SECOND_NS = 1_000_000_000;
const RESTART_WINDOW_NS = 300 * SECOND_NS;
const ODOO_PORT = 8069;
const DATA_DIR = '/var/lib/odoo';
const PASSWORD_FILE_NAME = 'db_password';

/** A tenant's filestore on CephFS, bind-mounted into its Odoo as the data dir. */
export const instanceDataDir = (cephfsRoot: string, instanceId: string): string =>
  posix.join(cephfsRoot, 'odoo_instances', instanceId);

/** Where a terminated tenant's filestore goes when FILESTORE_ON_TERMINATE=archive. */
export const instanceArchiveDir = (cephfsRoot: string, instanceId: string): string =>
  posix.join(cephfsRoot, 'odoo_instances_archive', instanceId);

/**
 * Odoo's `--db-filter` is a Python regex in which Odoo also expands `%h` and `%d`,
 * so a database name is escaped to match only itself.
 */
const exactDbFilter = (database: string): string =>
  `^${database.replace(/[\\^$.|?*+()[\]{}%]/g, (char) => (char === '%' ? '\\x25' : `\\${char}`))}$`;

/** Traefik v3 reads routing from the service's labels (not the containers') on Swarm. */
function traefikLabels(input: OdooServiceInput): Labels {
  const router = `traefik.http.routers.${input.serviceName}`;
  return {
    'traefik.enable': 'true',
    'traefik.swarm.network': input.network,
    [`${router}.rule`]: `Host(\`${input.instance.subdomain}.${input.baseDomain}\`)`,
    [`${router}.entrypoints`]: 'websecure',
    [`${router}.tls.certresolver`]: 'letsencrypt',
    [`traefik.http.services.${input.serviceName}.loadbalancer.server.port`]: String(ODOO_PORT),
  };
}

/** The Swarm service of one tenant's Odoo. Pure: the same input always gives the same spec. */
export function odooServiceSpec(input: OdooServiceInput): ServiceSpec {
  const { instance, db } = input;
  const labels = instanceLabels(instance.id, input.extraLabels);

  return {
    Name: input.serviceName,
    Labels: { ...traefikLabels(input), ...labels },
    TaskTemplate: {
      ContainerSpec: {
        Image: input.image,
        Labels: labels,
        // The image's entrypoint appends the database connection arguments from HOST, PORT, USER and PASSWORD_FILE.
        Args: [
          'odoo',
          '--database',
          db.name,
          '--db-filter',
          exactDbFilter(db.name),
          '--no-database-list',
          '--proxy-mode',
          '--init',
          'base',
          '--without-demo',
          'all',
          '--data-dir',
          DATA_DIR,
        ],
        // The password travels only as a Docker secret file, never in the service's environment.
        Env: [`HOST=${db.host}`, `PORT=${db.port}`, `USER=${db.user}`, `PASSWORD_FILE=/run/secrets/${PASSWORD_FILE_NAME}`],
        Secrets: [
          {
            SecretID: input.secret.id,
            SecretName: input.secret.name,
            File: { Name: PASSWORD_FILE_NAME, UID: String(input.odooUid), GID: String(input.odooUid), Mode: 0o400 },
          },
        ],
        Mounts: [{ Type: 'bind', Source: instanceDataDir(input.cephfsRoot, instance.id), Target: DATA_DIR }],
        // Swarm reports a task `running` only once it is healthy: that is the readiness signal, so check often.
        HealthCheck: {
          Test: ['CMD', 'curl', '-fsS', `http://localhost:${ODOO_PORT}/web/health`],
          Interval: 5 * SECOND_NS,
          Timeout: 3 * SECOND_NS,
          StartPeriod: 60 * SECOND_NS,
          Retries: 3,
        },
      },
      Resources: odooResources(instance.cpuLimit, instance.memoryLimitMb),
      // `any`, not `on-failure`: a dockerd that restarts stops its containers with exit 0, and Swarm would leave
      // such a task complete for good. The window lets a long-lived Odoo recover from a restart now and then.
      RestartPolicy: { Condition: 'any', Delay: 5 * SECOND_NS, MaxAttempts: input.restartMaxAttempts, Window: RESTART_WINDOW_NS },
      // Here rather than on the service: ServiceSpec.Networks is deprecated.
      Networks: [{ Target: input.network, Aliases: [input.serviceName] }],
    },
    Mode: { Replicated: { Replicas: 1 } },
    // Two Odoos must never share a tenant's database and filestore, even during an update.
    UpdateConfig: { Parallelism: 1, Order: 'stop-first' },
    EndpointSpec: { Mode: 'dnsrr' },
  };
}
