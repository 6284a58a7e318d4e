import type { InstanceRow, InstanceStatus, ModuleChangeRow } from '../db/schema.js';
import type { Deps } from '../deps.js';
import { withTransaction } from '../db/transaction.js';
import { DomainError } from '../errors.js';
import type { ModuleChangeKind } from '../swarm/odoo-module-job.js';
import { scaleService } from '../swarm/swarm.js';
import { assertStorageHeadroom } from './backup-limits.js';
import { moveInstance, type Trigger } from './instance-events.js';
import { getInstance } from './instances.js';
import { advanceModuleChange } from './module-change-steps.js';
import { checkModules, listedModules, parseModuleNames } from './tenant-modules.js';

/** Statuses a tenant's modules can be changed in: it has a server to stop and to give back as it was. */
const changeable: InstanceStatus[] = ['RUNNING', 'DEGRADED', 'STOPPED'];

const sameChange = (change: ModuleChangeRow, kind: ModuleChangeKind, names: readonly string[]) =>
  change.kind === kind && change.modules.length === names.length && change.modules.every((name, index) => name === names[index]);

const activeChange = (deps: Pick<Deps, 'db'>, instanceId: string) =>
  deps.db
    .selectFrom('module_changes')
    .selectAll()
    .where('instance_id', '=', instanceId)
    .where('status', 'not in', ['COMPLETED', 'FAILED'])
    .executeTakeFirst();

/**
 * Installs or updates modules of one tenant: the names are checked against its Odoo's list, the tenant is stopped
 * (RESTORING), a FINAL backup is taken, a one-shot `odoo -i|-u … --stop-after-init` job runs, and the tenant is given
 * back as it was (started again, or left stopped). A job that fails rolls the tenant back from that backup, and its
 * error goes on the instance. Asking again for the same change while it runs returns the instance as it is.
 */
export async function changeModules(
  deps: Deps,
  instanceId: string,
  kind: ModuleChangeKind,
  modules: readonly string[],
  trigger: Trigger,
): Promise<InstanceRow> {
  const names = parseModuleNames(modules);
  const instance = await getInstance(deps, instanceId);
  const active = await activeChange(deps, instance.id);
  if (active && sameChange(active, kind, names)) return instance;
  if (!active && changeable.includes(instance.status) && instance.initialized_at)
    checkModules(kind, names, await listedModules(deps, instance, names));
  const change = await withTransaction(deps.db, async (trx) => {
    const locked = await trx.selectFrom('instances').selectAll().where('id', '=', instance.id).forUpdate().executeTakeFirstOrThrow();
    const running = await trx
      .selectFrom('module_changes')
      .selectAll()
      .where('instance_id', '=', instance.id)
      .where('status', 'not in', ['COMPLETED', 'FAILED'])
      .executeTakeFirst();
    if (running) {
      if (sameChange(running, kind, names)) return null;
      throw new DomainError(
        'CONFLICT',
        `Instance ${instance.id} is changing its modules already (${running.kind} ${running.modules.join(', ')}).`,
      );
    }
    if (!changeable.includes(locked.status) || !locked.service_name || !locked.initialized_at)
      throw new DomainError('CONFLICT', `Instance ${instance.id} is ${locked.status}: its modules can be changed when RUNNING or STOPPED.`);
    const restoring = await trx
      .selectFrom('restores')
      .select('id')
      .where('instance_id', '=', instance.id)
      .where('status', 'not in', ['COMPLETED', 'FAILED'])
      .executeTakeFirst();
    if (restoring) throw new DomainError('CONFLICT', `Instance ${instance.id} is being restored; change its modules afterwards.`);
    await assertStorageHeadroom(deps, instance.id);
    const inserted = await trx
      .insertInto('module_changes')
      .values({ instance_id: instance.id, kind, modules: names, status: 'SAVING', actor: trigger.actor, previous_status: locked.status })
      .returningAll()
      .executeTakeFirstOrThrow();
    await scaleService(deps.docker, locked.service_name, 0);
    await moveInstance(deps, trx, locked, 'RESTORING', trigger, {
      patch: { error: null },
      message: `${kind === 'install' ? 'installing' : 'updating'} modules ${names.join(', ')}: the tenant is stopped and a FINAL backup taken first`,
    });
    return inserted;
  });
  if (change) {
    deps.log.info(
      { event: 'modules.change_started', instanceId: instance.id, changeId: change.id, kind, modules: names, actor: trigger.actor },
      'module change started',
    );
    await advanceModuleChange(deps, change.id);
  }
  return getInstance(deps, instance.id);
}

/** Every module change in flight, one step each: the leader's tick. */
export async function advanceModuleChanges(deps: Deps): Promise<void> {
  const inFlight = await deps.db
    .selectFrom('module_changes')
    .select('id')
    .where('status', 'not in', ['COMPLETED', 'FAILED'])
    .orderBy('created_at')
    .execute();
  for (const { id } of inFlight) {
    await advanceModuleChange(deps, id).catch((error: unknown) =>
      deps.log.warn({ event: 'modules.advance_failed', changeId: id, err: error }, 'could not advance a module change'),
    );
  }
}
