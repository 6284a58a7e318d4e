import type { InstanceRow, ModuleChangeRow } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import { withTransaction, type Executor } from '../../db/transaction.js';
import { DomainError } from '../../errors.js';
import type { ModuleChangeKind } from '../../swarm/odoo-module-job.js';
import { scaleService } from '../../swarm/swarm.js';
import { assertStorageHeadroom, limitCustomer } from '../backups/backup-limits.js';
import { moveInstance, type Trigger } from '../instances/instance-events.js';
import { getInstance } from '../instances/instances.js';
import { advanceModuleChange } from './module-change-steps.js';
import { checkModules, listedModules, parseModuleNames } from './tenant-modules.js';
import { allows } from '../instances/instance-policy.js';
import { conditionsWith } from '../instances/instance-conditions.js';

/** What a change asks for: the modules and, for a rollout, the image it moves the tenant to. */
interface ChangeRequest {
  kind: ModuleChangeKind;
  modules: readonly string[];
  image?: string;
}

const sameChange = (change: ModuleChangeRow, request: ChangeRequest) =>
  change.kind === request.kind &&
  (change.image ?? undefined) === request.image &&
  change.modules.length === request.modules.length &&
  change.modules.every((name, index) => name === request.modules[index]);

const activeChange = (executor: Executor, instanceId: string) =>
  executor
    .selectFrom('module_changes')
    .selectAll()
    .where('instance_id', '=', instanceId)
    .where('status', 'not in', ['COMPLETED', 'FAILED'])
    .executeTakeFirst();

const starting = (request: ChangeRequest) =>
  request.kind === 'rollout'
    ? `moving to ${request.image} (odoo -u all)`
    : `${request.kind === 'install' ? 'installing' : 'updating'} modules ${request.modules.join(', ')}`;

/**
 * Installs or updates modules of one tenant: the names are checked against its Odoo's list, the tenant is stopped
 * (RESTORING), a FINAL backup is taken, a one-shot `odoo -i|-u … --stop-after-init` job runs, and the tenant is given
 * back as it was (started again, or left stopped). A job that fails rolls the tenant back from that backup, and its
 * error goes on the instance. Asking again for the same change while it runs returns the instance as it is.
 */
export async function changeModules(
  deps: Deps,
  instanceId: string,
  kind: 'install' | 'update',
  modules: readonly string[],
  trigger: Trigger,
): Promise<InstanceRow> {
  const request = { kind, modules: parseModuleNames(modules) };
  const instance = await getInstance(deps, instanceId);
  const active = await activeChange(deps.db, instance.id);
  if (active && sameChange(active, request)) return instance;
  if (!active && allows('moduleChangeable', instance.status) && instance.initialized_at)
    checkModules(kind, request.modules, await listedModules(deps, instance, request.modules));
  await beginChange(deps, instance.id, request, trigger);
  return getInstance(deps, instance.id);
}

/**
 * A rollout's step for one tenant: every module updated on `image` (the same stop, FINAL backup and job as a module
 * update), then the tenant started on it and checked (rollout-check.ts). Answers the change (the one under way if it
 * is this one); refused with CONFLICT when the tenant cannot be changed now.
 */
export const rollOutTenant = (deps: Deps, instanceId: string, image: string, trigger: Trigger): Promise<ModuleChangeRow> =>
  beginChange(deps, instanceId, { kind: 'rollout', modules: ['all'], image }, trigger);

async function beginChange(deps: Deps, instanceId: string, request: ChangeRequest, trigger: Trigger): Promise<ModuleChangeRow> {
  const { kind, modules: names } = request;
  const begun = await withTransaction(deps.db, async (trx) => {
    const locked = await trx.selectFrom('instances').selectAll().where('id', '=', instanceId).forUpdate().executeTakeFirstOrThrow();
    const running = await activeChange(trx, instanceId);
    if (running) {
      if (sameChange(running, request)) return { change: running, started: false };
      throw new DomainError(
        'CONFLICT',
        `Instance ${instanceId} is changing its modules already (${running.kind} ${running.kind === 'rollout' ? running.image : running.modules.join(', ')}).`,
      );
    }
    if (!allows('moduleChangeable', locked.status) || !locked.service_name || !locked.initialized_at)
      throw new DomainError('CONFLICT', `Instance ${instanceId} is ${locked.status}: its modules can be changed when RUNNING or STOPPED.`);
    const restoring = await trx
      .selectFrom('restores')
      .select('id')
      .where('instance_id', '=', instanceId)
      .where('status', 'not in', ['COMPLETED', 'FAILED'])
      .executeTakeFirst();
    if (restoring) throw new DomainError('CONFLICT', `Instance ${instanceId} is being restored; change its modules afterwards.`);
    await limitCustomer(deps, trigger.actor, instanceId, 'modules');
    await assertStorageHeadroom(deps, instanceId);
    const inserted = await trx
      .insertInto('module_changes')
      .values({
        instance_id: instanceId,
        kind,
        modules: [...names],
        image: request.image ?? null,
        status: 'SAVING',
        actor: trigger.actor,
        previous_status: locked.status,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await scaleService(deps.docker, locked.service_name, 0);
    await moveInstance(deps, trx, locked, 'changeModules', trigger, {
      patch: { conditions: conditionsWith('moduleChange', null) },
      message: `${starting(request)}: the tenant is stopped and a FINAL backup taken first`,
    });
    return { change: inserted, started: true };
  });
  if (begun.started) {
    deps.log.info(
      {
        event: 'modules.change_started',
        instanceId,
        changeId: begun.change.id,
        kind,
        modules: names,
        image: request.image,
        actor: trigger.actor,
      },
      'module change started',
    );
    await advanceModuleChange(deps, begun.change.id);
  }
  return begun.change;
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
