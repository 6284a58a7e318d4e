import type { Deps } from '../../deps.js';
import { deadMounts } from '../../storage/monitor.js';
import { containerState, nodeContainers } from '../../swarm/containers.js';
import { labelKeys, managedLabels } from '../../swarm/labels.js';
import { ODOO_DATA_DIR } from '../../swarm/odoo-config.js';
import { scheduler } from './instance-events.js';
import { restartInstance } from './lifecycle.js';

/** What the leader remembers between its looks: the tenants' mount it last found the containers on. */
export interface MountWatch {
  /** The device of the tenants' mount when the containers were last looked at; undefined: never looked. */
  lookedAtDevice?: string | null;
  lastStatus?: string;
}

const STALE_REASON =
  "its data dir's CephFS mount is dead (Transport endpoint is not connected: ceph-fuse was restarted under it); it is restarted once storage is back";

/** This node's running tenant containers (the servers), with the pid whose /proc/<pid>/root shows their mounts. */
async function tenantContainers(deps: Pick<Deps, 'docker' | 'config'>): Promise<{ instanceId: string; pid: number }[]> {
  const labels = { ...managedLabels(deps.config.dockerLabels), [labelKeys.role]: 'server' };
  const containers = await nodeContainers(deps.docker, labels, { all: false });
  const found = await Promise.all(
    containers.map(async (container) => {
      const pid = (await containerState(deps.docker, container.id))?.pid ?? 0;
      const instanceId = container.labels[labelKeys.instanceId];
      return pid > 0 && instanceId ? [{ instanceId, pid }] : [];
    }),
  );
  return found.flat();
}

/**
 * The leader's look at the tenants' mounts. A ceph-fuse that dies leaves every container bind-mounted from it on a
 * dead connection, for good: mounting CephFS again does not reach into them. Whenever the tenants' mount changed (a new
 * device), or storage was unwell since the last look, the running tenant containers of this node are looked at (through
 * /proc/<pid>/root, so the daemon must see the node's processes): those on a dead mount are marked stale, the tracker
 * shows them DEGRADED with the reason, and once storage answers again they are restarted (a fresh task mounts afresh).
 */
export async function watchTenantMounts(deps: Deps, watch: MountWatch): Promise<void> {
  const { storage } = deps;
  const health = storage.health();
  if (storage.mode !== 'ceph' || !health.checkedAt) return;
  // A look waits on storage like the check does: not while the check has no answer (a stopped MDS or OSD).
  const changed = watch.lookedAtDevice !== health.tenantDevice || health.status !== 'ok' || watch.lastStatus !== 'ok';
  const look = health.answering && (watch.lookedAtDevice === undefined || changed);
  watch.lastStatus = health.status;
  if (look) {
    const containers = await tenantContainers(deps);
    const paths = new Map(containers.map((container) => [`/proc/${container.pid}/root${ODOO_DATA_DIR}`, container.instanceId]));
    const dead = await deadMounts([...paths.keys()], deps.config.storage.checkTimeoutMs);
    const deadIds = new Set([...dead].map((path) => paths.get(path)!));
    // One on a live mount now, or not running any more (restarted, stopped), is stale no more.
    for (const instanceId of storage.staleTenants.keys()) if (!deadIds.has(instanceId)) storage.staleTenants.delete(instanceId);
    for (const instanceId of deadIds) {
      if (storage.staleTenants.has(instanceId)) continue;
      storage.staleTenants.set(instanceId, STALE_REASON);
      deps.log.warn({ event: 'storage.stale_mount', instanceId }, "tenant's container is on a dead CephFS mount");
    }
    watch.lookedAtDevice = health.tenantDevice;
  }
  if (health.status !== 'ok' || storage.staleTenants.size === 0) return;
  // Restarted once the tracker has shown them DEGRADED, so the reason is on record.
  const degraded = await deps.db
    .selectFrom('instances')
    .select('id')
    .where('id', 'in', [...storage.staleTenants.keys()])
    .where('status', '=', 'DEGRADED')
    .execute();
  for (const { id } of degraded) {
    await restartInstance(deps, id, scheduler('storage-recovered'))
      .then(() => {
        storage.staleTenants.delete(id);
        deps.log.info({ event: 'storage.stale_restarted', instanceId: id }, 'tenant restarted on the live CephFS mount');
      })
      .catch((error: Error) =>
        deps.log.warn({ event: 'storage.stale_restart_failed', instanceId: id, reason: error.message }, 'stale tenant not restarted yet'),
      );
  }
}
