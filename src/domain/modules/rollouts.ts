import { sql } from 'kysely';
import type { InstanceRow, RolloutRow, RolloutTenantStatus } from '../../db/schema.js';
import { afterCommit, withTransaction, type Executor } from '../../db/transaction.js';
import type { Deps } from '../../deps.js';
import { DomainError, notFound, validationFailed } from '../../errors.js';
import { patchInstance, type Trigger } from '../instances/instance-events.js';
import { getInstance } from '../instances/instances.js';
import { rollOutTenant } from './module-changes.js';
import { isUuid } from '../names.js';
import { offeredOdooVersions, recordedSpec } from '../instances/odoo-spec.js';
import { nextRolloutStep, planRollout } from './rollout-plan.js';
import { statusesWhere } from '../instances/instance-policy.js';

export const MAX_ROLLOUT_BATCH = 50;

export interface RolloutRequest {
  version: string;
  image: string;
  batch: number;
}

/** The image a rollout brings must be the one ODOO_IMAGES offers the version: new tenants and rolled-out ones then match. */
function checkRequest(deps: Pick<Deps, 'config'>, request: RolloutRequest): void {
  const configured = deps.config.odooImages[request.version];
  if (!configured)
    throw validationFailed('version', `must be one of ODOO_IMAGES' versions (${offeredOdooVersions(deps.config).join(', ')})`);
  if (request.image !== configured)
    throw validationFailed(
      'image',
      `must be the image ODOO_IMAGES gives ${request.version} (${configured}): set ODOO_IMAGES on every replica first, then roll it out`,
    );
  if (!Number.isInteger(request.batch) || request.batch < 1 || request.batch > MAX_ROLLOUT_BATCH)
    throw validationFailed('batch', `must be an integer from 1 to ${MAX_ROLLOUT_BATCH}`);
}

async function recordRolloutEvent(
  deps: Pick<Deps, 'events'>,
  executor: Executor,
  rolloutId: string,
  instanceId: string | null,
  message: string,
) {
  const event = await executor
    .insertInto('rollout_events')
    .values({ rollout_id: rolloutId, instance_id: instanceId, message })
    .returningAll()
    .executeTakeFirstOrThrow();
  afterCommit(executor, () => deps.events.publishRollout(event));
}

/**
 * Rolls the version's image (ODOO_IMAGES' new one) out to its tenants that run another, a batch at a time: each one
 * stopped, a FINAL backup, `odoo -u all` on the new image, started on it and its login page checked (module changes of
 * kind `rollout`). The first tenant that fails is rolled back and stops the rollout. Pinned tenants are passed by.
 * Asking again while it runs returns it; one rollout per version at a time.
 */
export async function rolloutOdooVersion(deps: Deps, request: RolloutRequest, trigger: Trigger): Promise<RolloutRow> {
  checkRequest(deps, request);
  const { rollout, started } = await withTransaction(deps.db, async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext(${`rollout:${request.version}`}))`.execute(trx);
    const running = await trx
      .selectFrom('rollouts')
      .selectAll()
      .where('odoo_version', '=', request.version)
      .where('status', '=', 'RUNNING')
      .executeTakeFirst();
    if (running) {
      if (running.image === request.image) return { rollout: running, started: false };
      throw new DomainError(
        'CONFLICT',
        `A rollout of Odoo ${request.version} to ${running.image} is running (${running.id}); wait for it to end.`,
      );
    }
    const candidates = await trx
      .selectFrom('instances')
      .select(['id', 'created_at', 'staging_of', 'pinned_image'])
      .where('odoo_version', '=', request.version)
      .where('status', 'not in', statusesWhere('ended'))
      .where('odoo_spec', 'is not', null)
      .where(sql<boolean>`odoo_spec->>'image' is distinct from ${request.image}`)
      .execute();
    const plan = planRollout(
      candidates.map((row) => ({ id: row.id, createdAt: row.created_at, stagingOf: row.staging_of, pinnedImage: row.pinned_image })),
    );
    const pending = plan.filter((tenant) => tenant.status === 'PENDING').length;
    const inserted = await trx
      .insertInto('rollouts')
      .values({
        odoo_version: request.version,
        image: request.image,
        batch_size: request.batch,
        status: pending > 0 ? 'RUNNING' : 'COMPLETED',
        actor: trigger.actor,
        finished_at: pending > 0 ? null : new Date(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    if (plan.length > 0)
      await trx
        .insertInto('rollout_tenants')
        .values(
          plan.map((tenant) => ({
            rollout_id: inserted.id,
            instance_id: tenant.instanceId,
            position: tenant.position,
            status: tenant.status,
            error: tenant.error,
          })),
        )
        .execute();
    const passedBy = plan.length - pending;
    await recordRolloutEvent(
      deps,
      trx,
      inserted.id,
      null,
      `rollout of Odoo ${request.version} to ${request.image}: ${pending} tenant(s) in batches of ${request.batch}` +
        (passedBy > 0 ? `; ${passedBy} pinned, passed by` : '') +
        (pending === 0 ? '; nothing to do' : ''),
    );
    return { rollout: inserted, started: true };
  });
  if (started) {
    deps.log.info(
      { event: 'rollout.started', rolloutId: rollout.id, version: request.version, image: request.image, actor: trigger.actor },
      'rollout started',
    );
    await advanceRollout(deps, rollout.id);
  }
  return getRollout(deps, rollout.id);
}

export async function getRollout(deps: Pick<Deps, 'db'>, id: string): Promise<RolloutRow> {
  const rollout = isUuid(id) ? await deps.db.selectFrom('rollouts').selectAll().where('id', '=', id).executeTakeFirst() : undefined;
  if (!rollout) throw notFound('Rollout', id);
  return rollout;
}

const setTenant = (
  executor: Executor,
  rolloutId: string,
  instanceId: string,
  status: RolloutTenantStatus,
  patch: { error?: string | null; module_change_id?: string },
) =>
  executor
    .updateTable('rollout_tenants')
    .set({ status, ...patch, updated_at: sql`now()` })
    .where('rollout_id', '=', rolloutId)
    .where('instance_id', '=', instanceId)
    .execute();

/**
 * One step of a rollout, with its row locked (a concurrent caller skips it): the tenants under way take their module
 * change's outcome; a failure stops the rollout; else, once the batch is done, the next one starts (after the commit:
 * each tenant's change locks its own instance).
 */
export async function advanceRollout(deps: Deps, rolloutId: string): Promise<void> {
  const next = await withTransaction(deps.db, async (trx) => {
    const rollout = await trx.selectFrom('rollouts').selectAll().where('id', '=', rolloutId).forUpdate().skipLocked().executeTakeFirst();
    if (!rollout || rollout.status !== 'RUNNING') return null;
    const tenants = await trx
      .selectFrom('rollout_tenants')
      .leftJoin('module_changes', 'module_changes.id', 'rollout_tenants.module_change_id')
      .select([
        'rollout_tenants.instance_id',
        'rollout_tenants.position',
        'rollout_tenants.status',
        'rollout_tenants.module_change_id',
        'module_changes.status as change_status',
        'module_changes.error as change_error',
      ])
      .where('rollout_tenants.rollout_id', '=', rolloutId)
      .execute();
    // A tenant claimed but whose change a stopped caller never started is started again (rollOutTenant finds one it did).
    const unstarted = tenants.filter((row) => row.status === 'UPDATING' && row.module_change_id === null);
    for (const tenant of tenants.filter((row) => row.status === 'UPDATING' && row.module_change_id !== null)) {
      if (tenant.change_status === 'COMPLETED') {
        tenant.status = 'COMPLETED';
        await setTenant(trx, rolloutId, tenant.instance_id, 'COMPLETED', {});
        await recordRolloutEvent(deps, trx, rolloutId, tenant.instance_id, `instance ${tenant.instance_id} runs ${rollout.image}`);
      } else if (tenant.change_status === 'FAILED') {
        tenant.status = 'FAILED';
        const error = tenant.change_error ?? 'its module change failed';
        await setTenant(trx, rolloutId, tenant.instance_id, 'FAILED', { error });
        await recordRolloutEvent(
          deps,
          trx,
          rolloutId,
          tenant.instance_id,
          `instance ${tenant.instance_id} failed and was rolled back: ${error}`,
        );
      }
    }
    // After a failure nothing new starts: a tenant claimed but never started is not reached.
    if (tenants.some((row) => row.status === 'FAILED'))
      for (const tenant of unstarted.splice(0)) {
        tenant.status = 'PENDING';
        await trx
          .updateTable('rollout_tenants')
          .set({ status: 'PENDING', updated_at: sql`now()` })
          .where('rollout_id', '=', rolloutId)
          .where('instance_id', '=', tenant.instance_id)
          .where('module_change_id', 'is', null)
          .execute();
      }
    const step = nextRolloutStep(
      tenants.map((row) => ({ instanceId: row.instance_id, position: row.position, status: row.status })),
      rollout.batch_size,
    );
    if (step.kind === 'wait') return unstarted.length > 0 ? { rollout, tenants: unstarted.map((row) => row.instance_id) } : null;
    if (step.kind === 'start') {
      // Claimed here, under the rollout's lock: a concurrent caller (the tick, the mutation) never starts them twice.
      for (const tenant of step.tenants) {
        await setTenant(trx, rolloutId, tenant.instanceId, 'UPDATING', {});
        await recordRolloutEvent(
          deps,
          trx,
          rolloutId,
          tenant.instanceId,
          `instance ${tenant.instanceId}: updating all modules on ${rollout.image}`,
        );
      }
      return { rollout, tenants: [...step.tenants.map((tenant) => tenant.instanceId), ...unstarted.map((row) => row.instance_id)] };
    }
    const error =
      step.kind === 'failed'
        ? `instance ${step.failed.instanceId} failed on ${rollout.image} and was rolled back; the rollout stopped` +
          (step.notReached > 0 ? ` with ${step.notReached} tenant(s) not reached` : '')
        : null;
    await trx
      .updateTable('rollouts')
      .set({ status: step.kind === 'failed' ? 'FAILED' : 'COMPLETED', error, finished_at: new Date(), updated_at: sql`now()` })
      .where('id', '=', rolloutId)
      .execute();
    const counts = tenants.reduce<Record<string, number>>((all, row) => ({ ...all, [row.status]: (all[row.status] ?? 0) + 1 }), {});
    const summary = Object.entries(counts)
      .map(([status, count]) => `${count} ${status.toLowerCase()}`)
      .join(', ');
    await recordRolloutEvent(deps, trx, rolloutId, null, error ? `${error} (${summary})` : `rollout completed (${summary || 'no tenant'})`);
    deps.log[error ? 'warn' : 'info'](
      { event: error ? 'rollout.failed' : 'rollout.completed', rolloutId, error },
      error ? 'rollout failed' : 'rollout completed',
    );
    return null;
  });
  if (!next) return;
  const trigger: Trigger = { cause: 'rolloutOdooVersion', actor: next.rollout.actor };
  let started = 0;
  for (const instanceId of next.tenants) {
    try {
      const change = await rollOutTenant(deps, instanceId, next.rollout.image, trigger);
      await setTenant(deps.db, rolloutId, instanceId, 'UPDATING', { module_change_id: change.id });
      started += 1;
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      // A tenant that cannot be changed now (suspended, failed, being restored, gone) is passed by, and says why.
      await withTransaction(deps.db, async (trx) => {
        await setTenant(trx, rolloutId, instanceId, 'SKIPPED', { error: error.message });
        await recordRolloutEvent(deps, trx, rolloutId, instanceId, `instance ${instanceId} passed by: ${error.message}`);
      });
    }
  }
  if (started === 0) await advanceRollout(deps, rolloutId);
}

/** Every rollout under way, one step each: the leader's tick. */
export async function advanceRollouts(deps: Deps): Promise<void> {
  const running = await deps.db.selectFrom('rollouts').select('id').where('status', '=', 'RUNNING').orderBy('created_at').execute();
  for (const { id } of running) {
    await advanceRollout(deps, id).catch((error: unknown) =>
      deps.log.warn({ event: 'rollout.advance_failed', rolloutId: id, err: error }, 'could not advance a rollout'),
    );
  }
}

/** Pins the tenant to the image it runs (rollouts pass it by), or lets it follow them again. */
export async function pinInstanceImage(deps: Deps, instanceId: string, pinned: boolean, trigger: Trigger): Promise<InstanceRow> {
  const instance = await getInstance(deps, instanceId);
  const image = recordedSpec(instance)?.image;
  if (pinned && !image) throw new DomainError('CONFLICT', `Instance ${instance.id} has no image yet: provision it first.`);
  const message = pinned ? `pinned to ${image}: rollouts pass it by` : 'unpinned: it follows rollouts again';
  const written = await patchInstance(
    deps,
    deps.db,
    instance.id,
    { pinned_image: pinned ? image! : null },
    { event: { trigger, message } },
  );
  return written ?? getInstance(deps, instance.id);
}
