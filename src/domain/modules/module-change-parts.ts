import { sql, type Transaction, type Updateable } from 'kysely';
import type { Database, InstanceRow, ModuleChangeRow, ModuleChangesTable } from '../../db/schema.js';
import type { Deps } from '../../deps.js';
import type { ModuleChangeKind } from '../../swarm/odoo-module-job.js';
import { moveInstance, patchInstance, type Trigger } from '../instances/instance-events.js';
import { runServer } from '../instances/odoo-services.js';
import { conditionsWith } from '../instances/instance-conditions.js';

/** The API call a change stands for: the cause of its events. */
export const moduleChangeCause = (kind: ModuleChangeKind): string =>
  kind === 'install' ? 'installModules' : kind === 'update' ? 'updateModules' : 'rolloutOdooVersion';

export const changeTrigger = (change: ModuleChangeRow): Trigger => ({ cause: moduleChangeCause(change.kind), actor: change.actor });

export const describeChange = (change: ModuleChangeRow): string =>
  change.kind === 'rollout'
    ? `updating all modules on ${change.image}`
    : `${change.kind === 'install' ? 'installing' : 'updating'} ${change.modules.join(', ')}`;

/** What follows a step once its transaction committed. */
export type Step = { again?: boolean; removeJob?: boolean; restoreId?: string } | void;

export const setChange = (trx: Transaction<Database>, change: ModuleChangeRow, patch: Updateable<ModuleChangesTable>) =>
  trx
    .updateTable('module_changes')
    .set({ ...patch, updated_at: sql`now()` })
    .where('id', '=', change.id)
    .execute();

export const failureMessage = (change: ModuleChangeRow, reason: string): string =>
  `${moduleChangeCause(change.kind)} (${change.kind === 'rollout' ? change.image : change.modules.join(', ')}) failed and was rolled back to backup ${change.final_backup_id}: ${reason}`;

/**
 * Rolls a failed change back: a restore of its FINAL backup (the tenant is RESTORING, stopped), the reason on the
 * change and on the instance. The restore gives the tenant back as it was before the change.
 */
export async function startRollback(
  deps: Deps,
  trx: Transaction<Database>,
  change: ModuleChangeRow,
  instance: InstanceRow,
  reason: string,
): Promise<Step> {
  const restore = await trx
    .insertInto('restores')
    .values({
      instance_id: instance.id,
      backup_id: change.final_backup_id!,
      mode: 'replace',
      status: 'SAVING',
      actor: change.actor,
      previous_status: change.previous_status,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await setChange(trx, change, { status: 'ROLLING_BACK', error: reason, restore_id: restore.id });
  await patchInstance(
    deps,
    trx,
    instance.id,
    { conditions: conditionsWith('moduleChange', failureMessage(change, reason)) },
    {
      event: {
        trigger: changeTrigger(change),
        message: `${describeChange(change)} failed; restoring FINAL backup ${change.final_backup_id}: ${reason}`,
      },
    },
  );
  deps.log.warn(
    { event: 'modules.change_failed', instanceId: instance.id, changeId: change.id, kind: change.kind, reason },
    'module change failed; rolling back',
  );
  return { removeJob: true, restoreId: restore.id };
}

/** The tenant back where it was: started again, left stopped, or suspended when billing asked meanwhile. */
export async function giveBack(
  deps: Deps,
  trx: Transaction<Database>,
  change: ModuleChangeRow,
  instance: InstanceRow,
  message: string,
): Promise<void> {
  if (instance.status !== 'RESTORING') return;
  const trigger = changeTrigger(change);
  if (instance.suspension_pending_at) {
    await moveInstance(deps, trx, instance, 'giveBackSuspended', trigger, {
      message: `${message}; suspended as billing asked meanwhile`,
      patch: { suspension_pending_at: null, desired: 'suspended' },
    });
  } else if (change.previous_status === 'STOPPED') {
    await moveInstance(deps, trx, instance, 'giveBackStopped', trigger, { message });
  } else {
    await runServer(deps, { ...instance, service_name: instance.service_name! }, { replicas: 1 });
    await moveInstance(deps, trx, instance, 'giveBackRunning', trigger, { message });
  }
}

/** Whether giving the tenant back starts it: what a rollout then checks. */
export const givenBackRunning = (change: ModuleChangeRow, instance: InstanceRow): boolean =>
  instance.status === 'RESTORING' && !instance.suspension_pending_at && change.previous_status !== 'STOPPED';
