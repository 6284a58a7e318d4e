import { instanceDataDir } from '../storage/layout.js';
import type { ContainerSpec, ServiceSpec, TaskSpec } from './docker-types.js';
import { roleLabels, type InstanceServiceRole, type Labels } from './labels.js';
import { odooResources, type ServiceResources } from './odoo-resources.js';
import {
  ODOO_CONFIG_FILE_NAME,
  ODOO_CONFIG_PATH,
  ODOO_DATA_DIR,
  ODOO_GEVENT_PORT,
  ODOO_HTTP_PORT,
  odooLaunch,
  odooSettingsArgs,
  type OdooSpec,
} from './odoo-config.js';
import { healthCheck, onNetwork, secretFile, seconds, singleTaskService } from './spec-parts.js';

export type { ServiceSpec } from './docker-types.js';

export interface TlsSettings {
  mode: 'per-host' | 'wildcard';
  certResolver: string;
}

/** What every Swarm service running a tenant's Odoo (the server, its init job) is made of. */
export interface OdooRuntimeInput {
  instance: { id: string; subdomain: string };
  /** The image, limits, settings and environment recorded on the instance. */
  spec: OdooSpec;
  /** The tenant's long-running service; its one-shot jobs are named after it. */
  serviceName: string;
  network: string;
  /** The tenants' view of CephFS (CEPHFS_TENANT_ROOT, no snapshot rights): where the data dir's bind mount comes from. */
  cephfsRoot: string;
  /** The data dir's path under cephfsRoot's tree, when it is not the instance's (a template's build). */
  dataDir?: string;
  /** The Docker secret holding Odoo's config file (database settings and password included). */
  configSecret: { id: string; name: string };
  restartMaxAttempts: number;
  /** Seconds Swarm waits before it starts a failed task again. */
  restartDelaySeconds: number;
  /** The image's `odoo` user: it owns the data directory and must read the secret file. */
  odooUid: number;
  extraLabels?: Labels;
}

export interface OdooServiceInput extends OdooRuntimeInput {
  baseDomain: string;
  tls: TlsSettings;
  /** Seconds between health checks: Swarm reports a started task `running` at its first passing check. */
  healthIntervalSeconds: number;
  /** Seconds after a start during which failed checks do not count. */
  healthStartSeconds: number;
  /** Seconds Odoo has to stop before it is killed. */
  stopGraceSeconds: number;
}

const RESTART_WINDOW_SECONDS = 300;

/**
 * The config file's path, the spec's own entries and what the launch adds (the server's start script): the password is
 * inside the secret, never in the environment.
 */
const odooEnv = (spec: OdooSpec, launch: { Env: string[] }): string[] => [`ODOO_RC=${ODOO_CONFIG_PATH}`, ...spec.env, ...launch.Env];

/** The arguments of a tenant's Odoo: the settings of its spec, then `odooArgs`. */
export const odooArgsFor = (spec: OdooSpec, odooArgs: string[]): string[] => [...odooSettingsArgs(spec.settings), ...odooArgs];

/** The container and resources shared by the server and its jobs: same image, config secret, data dir, settings and limits. */
export function odooTask(
  input: OdooRuntimeInput,
  role: InstanceServiceRole,
  odooArgs: string[],
): { container: ContainerSpec; task: Omit<TaskSpec, 'ContainerSpec'> } {
  const launch = odooLaunch(odooArgsFor(input.spec, odooArgs), role === 'server' ? 'server' : 'job');
  return {
    container: {
      Image: input.spec.image,
      Labels: roleLabels(input.instance.id, role, input.extraLabels),
      Command: launch.Command,
      Args: launch.Args,
      Env: odooEnv(input.spec, launch),
      Secrets: [secretFile(input.configSecret, ODOO_CONFIG_FILE_NAME, input.odooUid)],
      Mounts: [{ Type: 'bind', Source: input.dataDir ?? instanceDataDir(input.cephfsRoot, input.instance.id), Target: ODOO_DATA_DIR }],
    },
    task: {
      Resources: odooResources(input.spec.cpuLimit, input.spec.memoryLimitMb),
      Networks: onNetwork(input.network, input.serviceName),
    },
  };
}

/** What of the server's task its spec decides: image, environment, settings on the command line, limits. */
export interface OdooServerTask {
  image: string;
  env: string[];
  command: string[];
  args: string[];
  resources: ServiceResources;
}

/** Pure: the parts of the server's task a plan change or a restart (re)builds from the recorded spec. */
export function odooServerTask(spec: OdooSpec): OdooServerTask {
  const launch = odooLaunch(odooArgsFor(spec, []), 'server');
  return {
    image: spec.image,
    env: odooEnv(spec, launch),
    command: launch.Command,
    args: launch.Args,
    resources: odooResources(spec.cpuLimit, spec.memoryLimitMb),
  };
}

/** TLS for one router: its own certificate per host, or the one `*.baseDomain` certificate (a DNS-challenge resolver). */
function tlsLabels(router: string, input: OdooServiceInput): Labels {
  const labels: Labels = { [`${router}.tls.certresolver`]: input.tls.certResolver };
  if (input.tls.mode === 'wildcard') {
    labels[`${router}.tls.domains[0].main`] = input.baseDomain;
    labels[`${router}.tls.domains[0].sans`] = `*.${input.baseDomain}`;
  }
  return labels;
}

/**
 * Traefik v3 reads routing from the service's labels (not the containers') on Swarm. Two routers on the tenant's
 * host, each naming its own Traefik service: the web on 8069, Odoo 17's bus (`/websocket`) on the gevent port.
 */
function traefikLabels(input: OdooServiceInput): Labels {
  const host = `Host(\`${input.instance.subdomain}.${input.baseDomain}\`)`;
  const web = input.serviceName;
  const websocket = `${input.serviceName}-websocket`;
  const router = (name: string, rule: string, port: number): Labels => ({
    [`traefik.http.routers.${name}.rule`]: rule,
    [`traefik.http.routers.${name}.entrypoints`]: 'websecure',
    [`traefik.http.routers.${name}.service`]: name,
    ...tlsLabels(`traefik.http.routers.${name}`, input),
    [`traefik.http.services.${name}.loadbalancer.server.port`]: String(port),
  });
  return {
    'traefik.enable': 'true',
    'traefik.swarm.network': input.network,
    ...router(web, host, ODOO_HTTP_PORT),
    ...router(websocket, `${host} && PathPrefix(\`/websocket\`)`, ODOO_GEVENT_PORT),
  };
}

/**
 * The tenant's one long-running Odoo service. It never initialises (no `-i`/`-u`): the init job did, once, so a
 * start or restart reuses the database. Pure: the same input always gives the same spec.
 */
export function odooServiceSpec(input: OdooServiceInput): ServiceSpec {
  const { container, task } = odooTask(input, 'server', []);
  const labels = { ...traefikLabels(input), ...roleLabels(input.instance.id, 'server', input.extraLabels) };
  // Two Odoos must never share a tenant's database and filestore: one task, stopped before its replacement starts.
  return singleTaskService(input.serviceName, labels, {
    ...task,
    ContainerSpec: {
      ...container,
      // Swarm reports a task `running` only once it is healthy: that is the readiness signal, so check often.
      HealthCheck: healthCheck(['CMD', 'curl', '-fsS', `http://localhost:${ODOO_HTTP_PORT}/web/health`], {
        intervalSeconds: input.healthIntervalSeconds,
        timeoutSeconds: 3,
        startPeriodSeconds: input.healthStartSeconds,
        retries: 3,
      }),
      StopGracePeriod: seconds(input.stopGraceSeconds),
    },
    // `any`, not `on-failure`: a dockerd that restarts stops its containers with exit 0, and Swarm would leave
    // such a task complete for good. The window lets a long-lived Odoo recover from a restart now and then.
    RestartPolicy: {
      Condition: 'any',
      Delay: seconds(input.restartDelaySeconds),
      MaxAttempts: input.restartMaxAttempts,
      Window: seconds(RESTART_WINDOW_SECONDS),
    },
  });
}
