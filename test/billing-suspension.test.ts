import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { after, before, beforeEach, describe, it } from 'node:test';
import { tenantDatabaseName } from '../src/domain/names.js';
import { instanceLabels, labelFilters, labelKeys } from '../src/swarm/labels.js';
import type { SwarmService } from '../src/swarm/docker-types.js';
import {
  CREATE_INSTANCE,
  customerToken,
  defaultCustomerId,
  eventually,
  instanceInput,
  registerLocalPool,
  withPoolCatalog,
  type TestDaemon,
  expectError,
} from './support/harness.js';
import { resetBilling, settledBillingEvent, startBillingDaemon, stopBillingDaemon } from './support/billing-daemon.js';
import type { KillbillFake, SubscriptionJson } from './support/killbill-fake.js';
import { blockingState, deliver, invoicePaid, overdueChange, subscriptionEvent } from './support/killbill-notifications.js';
import { instanceWithStatus } from './support/odoo.js';

const VIEW = 'query($id: ID!) { instance(id: $id) { id status error purgeAt plan } }';
const act = (verb: string) => `mutation($id: ID!) { ${verb}(instanceId: $id) { id status purgeAt } }`;
const codeOf = (result: { errors?: { extensions?: { code?: string } }[] }) => result.errors?.[0]?.extensions?.code;

describe('billing suspends, resumes, and purges after a grace period', () => {
  let fake: KillbillFake;
  let daemon: TestDaemon;
  let customer: string;

  const settledEvent = (id: string) => settledBillingEvent(daemon, id);
  const deliverSettled = async (body: unknown) => settledEvent((await deliver(daemon, body)).body.id);
  type View = { id: string; status: string; error: string | null; purgeAt: string | null };
  const view = async (id: string) => (await daemon.gql(VIEW, { id })).data.instance as View;
  const statusWhen = (id: string, wanted: string, timeoutMs?: number) =>
    instanceWithStatus<View>(daemon, id, wanted, { query: VIEW, timeoutMs });
  const replicasOf = async (id: string) => {
    const [service] = (await daemon.deps.docker.listServices({
      filters: labelFilters({ ...instanceLabels(id), [labelKeys.role]: 'server' }),
    })) as unknown as SwarmService[];
    const mode = service?.Spec.Mode;
    return mode && 'Replicated' in mode ? mode.Replicated.Replicas : undefined;
  };
  const databaseExists = (id: string) =>
    withPoolCatalog(
      async (client) => (await client.query('select 1 from pg_database where datname = $1', [tenantDatabaseName(id)])).rowCount === 1,
    );
  const secretCount = async (id: string) => (await daemon.deps.docker.listSecrets({ filters: labelFilters(instanceLabels(id)) })).length;
  const setState = (subscription: SubscriptionJson, state: 'ACTIVE' | 'BLOCKED' | 'CANCELLED') =>
    fake.subscription({
      subscriptionId: subscription.subscriptionId,
      accountId: subscription.accountId,
      bundleId: subscription.bundleId,
      phaseType: 'EVERGREEN',
      state,
    });

  /** A customer's instance on a trial subscription, RUNNING. */
  async function runningInstance(): Promise<{ id: string; subscription: SubscriptionJson }> {
    const subscription = fake.subscription({ phaseType: 'TRIAL', state: 'ACTIVE' });
    const created = await daemon.gql(CREATE_INSTANCE, {
      input: instanceInput({ subscriptionId: subscription.subscriptionId, memoryLimit: '512M', cpuLimit: 0.5 }),
    });
    assert.equal(created.errors, undefined, JSON.stringify(created.errors));
    const id = created.data.createInstance.id as string;
    const started = await deliverSettled(subscriptionEvent('SUBSCRIPTION_CREATION', subscription));
    assert.equal(started.status, 'processed', started.last_error ?? '');
    assert.equal((await statusWhen(id, 'RUNNING')).status, 'RUNNING');
    return { id, subscription };
  }

  /** Delivers `body` and waits for the instance to read `wanted`; returns the milliseconds from delivery. */
  async function timed(id: string, body: unknown, wanted: string): Promise<number> {
    const started = Date.now();
    const delivery = await deliver(daemon, body);
    assert.equal(delivery.status, 200);
    const reached = await statusWhen(id, wanted);
    const event = await settledEvent(delivery.body.id);
    assert.equal(reached.status, wanted, `event ${event.status}: ${event.last_error ?? event.outcome}`);
    return Date.now() - started;
  }

  before(async () => {
    ({ fake, daemon } = await startBillingDaemon({ BILLING_RETRY_BASE_SECONDS: '1', BILLING_RETRY_CRON: '* * * * * *' }));
    customer = await customerToken(defaultCustomerId);
  });
  beforeEach(async () => {
    await resetBilling({ fake, daemon });
    await registerLocalPool(daemon, 'pool-local', 10);
  });
  after(() => stopBillingDaemon({ fake, daemon }));

  it('suspends on a blocked entitlement (kept whole), refuses the customer, and comes back when unblocked or paid', async () => {
    const { id, subscription } = await runningInstance();
    const warning = await deliver(daemon, blockingState(subscription.accountId, null));
    assert.equal(warning.body.status, 'ignored', 'a warning state blocks nothing');

    setState(subscription, 'BLOCKED');
    const toSuspended = await timed(id, blockingState(subscription.accountId, true), 'SUSPENDED');
    console.log(`[measure] blocking notification -> SUSPENDED: ${toSuspended} ms`);
    assert.equal(
      await eventually(
        () => replicasOf(id),
        (replicas) => replicas === 0,
        5000,
      ),
      0,
      'the service is scaled to 0',
    );
    assert.equal(await databaseExists(id), true, 'the database is kept');
    assert.equal(await secretCount(id), 1, 'the secret is kept');
    assert.ok(existsSync(join(daemon.deps.config.cephfsRoot, 'odoo_instances', id)), 'the filestore is kept');

    for (const verb of ['startInstance', 'restartInstance']) {
      const refused = await daemon.gql(act(verb), { id }, { token: customer });
      assert.equal(codeOf(refused), 'CONFLICT', verb);
      assert.match(refused.errors![0]!.message, /SUSPENDED by billing/);
    }
    expectError(await daemon.gql(act('resumeInstance'), { id }, { token: customer }), 'FORBIDDEN');
    assert.equal((await view(id)).status, 'SUSPENDED');

    setState(subscription, 'ACTIVE');
    const toRunning = await timed(id, blockingState(subscription.accountId, false), 'RUNNING');
    console.log(`[measure] unblocking notification -> RUNNING: ${toRunning} ms`);
    assert.equal(await replicasOf(id), 1);

    // OVERDUE_CHANGE carries no direction: Kill Bill's subscription state gives it.
    setState(subscription, 'BLOCKED');
    const overdue = overdueChange(subscription.accountId);
    await timed(id, overdue, 'SUSPENDED');
    // A paid invoice while Kill Bill still blocks the subscription (more is owed) changes nothing.
    const early = fake.invoice({
      accountId: subscription.accountId,
      balance: 0,
      items: [{ subscriptionId: subscription.subscriptionId, amount: 29 }],
    });
    const stillBlocked = await deliverSettled(invoicePaid(early.invoiceId, subscription.accountId));
    assert.match(stillBlocked.outcome ?? '', /subscription BLOCKED in Kill Bill/);
    assert.equal((await view(id)).status, 'SUSPENDED');
    setState(subscription, 'ACTIVE');
    const last = fake.invoice({
      accountId: subscription.accountId,
      balance: 0,
      items: [{ subscriptionId: subscription.subscriptionId, amount: 29 }],
    });
    const toRunningPaid = await timed(id, invoicePaid(last.invoiceId, subscription.accountId), 'RUNNING');
    console.log(`[measure] payment notification -> RUNNING: ${toRunningPaid} ms`);

    // An admin may bring a suspended instance back whatever Kill Bill says.
    setState(subscription, 'BLOCKED');
    await timed(id, blockingState(subscription.accountId, true), 'SUSPENDED');
    // Twice at once: one resumes, the other finds it on its way back.
    const resumed = await Promise.all([daemon.gql(act('resumeInstance'), { id }), daemon.gql(act('resumeInstance'), { id })]);
    assert.deepEqual(
      resumed.map((result) => result.data?.resumeInstance.status),
      ['STARTING', 'STARTING'],
      JSON.stringify(resumed.map((r) => r.errors)),
    );
    assert.equal((await statusWhen(id, 'RUNNING')).status, 'RUNNING');

    const history = await daemon.gql('query($id: ID!) { instance(id: $id) { events { nodes { from to cause actor } } } }', { id });
    const moves = history.data.instance.events.nodes
      .filter((e: { to: string | null }) => e.to)
      .map((e: { from: string; to: string; cause: string; actor: string }) => `${e.from}->${e.to} ${e.cause} ${e.actor}`);
    assert.ok(moves.includes('RUNNING->SUSPENDED ENTITLEMENT killbill'), moves.join('\n'));
    assert.ok(moves.includes('SUSPENDED->STARTING INVOICE_PAYMENT_SUCCESS killbill'), moves.join('\n'));
    assert.ok(moves.includes('SUSPENDED->STARTING resumeInstance admin'), moves.join('\n'));
    assert.equal(moves.filter((move: string) => move === 'SUSPENDED->STARTING resumeInstance admin').length, 1, 'resumed once');
  });

  it('suspends a cancelled subscription for TERMINATION_GRACE_SECONDS; reactivation or uncancellation brings it back; then it is purged', async () => {
    const { id, subscription } = await runningInstance();
    setState(subscription, 'CANCELLED');
    const before = Date.now();
    await timed(id, subscriptionEvent('SUBSCRIPTION_CANCEL', subscription), 'SUSPENDED');
    const purgeAt = Date.parse((await view(id)).purgeAt!);
    const grace = daemon.deps.config.plans.terminationGraceSeconds * 1000;
    assert.ok(
      purgeAt >= before + grace - 1000 && purgeAt <= Date.now() + grace + 1000,
      `purgeAt ${new Date(purgeAt).toISOString()} is now + 30 days`,
    );
    assert.equal(await databaseExists(id), true);
    assert.equal(codeOf(await daemon.gql(act('resumeInstance'), { id })), 'CONFLICT', 'a cancelled instance is reactivated, not resumed');
    expectError(await daemon.gql(act('reactivateInstance'), { id }, { token: customer }), 'FORBIDDEN');

    const reactivated = await daemon.gql(act('reactivateInstance'), { id });
    assert.deepEqual(reactivated.data.reactivateInstance, { id, status: 'STARTING', purgeAt: null });
    assert.equal((await statusWhen(id, 'RUNNING')).purgeAt, null);

    // Kill Bill undoes a cancellation: SUBSCRIPTION_UNCANCEL, with the subscription ACTIVE again.
    await timed(id, subscriptionEvent('SUBSCRIPTION_CANCEL', subscription, 'EFFECTIVE', { attempt: 2 }), 'SUSPENDED');
    setState(subscription, 'ACTIVE');
    const uncancelled = await timed(id, subscriptionEvent('SUBSCRIPTION_UNCANCEL', subscription), 'RUNNING');
    assert.ok(uncancelled > 0);
    assert.equal((await view(id)).purgeAt, null);

    // Once the grace period is over (moved back here rather than waited for), the leader terminates it.
    setState(subscription, 'CANCELLED');
    await timed(id, subscriptionEvent('SUBSCRIPTION_CANCEL', subscription, 'EFFECTIVE', { attempt: 3 }), 'SUSPENDED');
    await daemon.deps.db
      .updateTable('instances')
      .set({ purge_at: sql<Date>`now() - interval '1 second'` })
      .where('id', '=', id)
      .execute();
    // The purge takes a FINAL backup first (a job on the swarm): seconds alone, more beside the other suites.
    const dueAt = Date.now();
    assert.equal((await statusWhen(id, 'TERMINATED', 90_000)).status, 'TERMINATED');
    console.log(`[measure] purge due -> TERMINATED: ${Date.now() - dueAt} ms`);
    assert.equal(await databaseExists(id), false);
    const events = await daemon.gql('query($id: ID!) { instance(id: $id) { events { nodes { from to cause } } } }', { id });
    const transitions = events.data.instance.events.nodes.filter((e: { to: string | null }) => e.to);
    assert.deepEqual(
      transitions.slice(-2).map((e: { from: string; to: string; cause: string }) => `${e.from}->${e.to} ${e.cause}`),
      ['SUSPENDED->TERMINATING purge', 'TERMINATING->TERMINATED purge'],
    );
  });
});
