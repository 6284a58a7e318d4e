import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { getBillingEvent, listBillingEvents } from '../src/billing/events.js';
import { intentOf } from '../src/billing/intent.js';
import { createKillbillClient, KillbillError } from '../src/killbill/client.js';
import { parseNotification } from '../src/billing/notification.js';
import { backgroundBillingWork } from '../src/billing/processor.js';
import { retryDelaySeconds } from '../src/billing/retry-policy.js';
import { createKillbillWebhook } from '../src/http/killbill-webhook.js';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { connectDatabase } from '../src/db/connect.js';
import { trackInstances } from '../src/jobs/instance-tracking.js';
import { retryBillingEvents } from '../src/jobs/billing-retry.js';
import { credentialsKey } from '../src/domain/names.js';
import { instanceLabels, labelFilters } from '../src/swarm/labels.js';
import {
  CREATE_INSTANCE,
  customerToken,
  eventually,
  instanceInput,
  registerLocalPool,
  startTestDaemon,
  type TestDaemon,
  expectError,
  scrapeMetrics,
} from './support/harness.js';
import { resetBilling, settledBillingEvent, startBillingDaemon, stopBillingDaemon } from './support/billing-daemon.js';
import { startKillbillFake, type KillbillFake } from './support/killbill-fake.js';
import { INSTANCE, settledInstance } from './support/odoo.js';
import { deliver, invoicePaid, overdueChange, subscriptionEvent, webhookToken } from './support/killbill-notifications.js';

const TOKEN = webhookToken;

describe('Kill Bill push notifications', () => {
  let fake: KillbillFake;
  let daemon: TestDaemon;

  const eventCount = async () =>
    Number(
      (
        await daemon.deps.db
          .selectFrom('billing_events')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const settledEvent = (id: string) => settledBillingEvent(daemon, id);
  const linkedInstance = async (subscriptionId: string) => {
    const created = await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ subscriptionId, memoryLimit: '512M', cpuLimit: 0.5 }) });
    assert.equal(created.errors, undefined, JSON.stringify(created.errors));
    return created.data.createInstance as { id: string; status: string };
  };
  const instanceStatus = async (id: string) => (await daemon.gql(INSTANCE, { id })).data.instance.status as string;
  const servicesOf = async (id: string) => daemon.deps.docker.listServices({ filters: labelFilters(instanceLabels(id)) });

  before(async () => {
    // The retry job is driven by the tests (retryBillingEvents); the webhook's own processing runs as in production.
    ({ fake, daemon } = await startBillingDaemon({ BILLING_RETRY_BASE_SECONDS: '1', BILLING_RETRY_CRON: '0 0 1 1 *' }));
  });
  beforeEach(() => resetBilling({ fake, daemon }));
  after(async () => {
    await stopBillingDaemon({ fake, daemon });
    for (const line of daemon.logs) {
      assert.ok(!line.includes(TOKEN), `webhook token in a log line: ${line}`);
      assert.ok(
        !line.includes(fake.credentials.apiSecret) && !line.includes(fake.credentials.password),
        `Kill Bill secret in a log line: ${line}`,
      );
    }
  });

  it('provisions the instance of a subscription that starts in a TRIAL phase, through Kill Bill facts', async () => {
    await registerLocalPool(daemon, 'pool-local', 10);
    const subscription = fake.subscription({ phaseType: 'TRIAL', state: 'ACTIVE' });
    const instance = await linkedInstance(subscription.subscriptionId);
    assert.equal(instance.status, 'ALLOCATED');

    const delivery = await deliver(daemon, subscriptionEvent('SUBSCRIPTION_CREATION', subscription));
    assert.equal(delivery.status, 200);
    assert.deepEqual(Object.keys(delivery.body).sort(), ['duplicate', 'id', 'status']);
    assert.equal(delivery.body.duplicate, false);
    const event = await settledEvent(delivery.body.id);
    assert.equal(event.status, 'processed', event.last_error ?? '');
    assert.match(event.outcome ?? '', new RegExp(`provisioned ${instance.id} PROVISIONING`));
    assert.equal(event.attempts, 1);
    assert.equal(event.next_attempt_at, null);

    const settled = await settledInstance(daemon, instance.id);
    assert.equal(settled.status, 'RUNNING', settled.error ?? '');
    // createInstance checks the subscription's account is the customer's; the event reads the same facts again.
    const facts = [`/1.0/kb/subscriptions/${subscription.subscriptionId}`, `/1.0/kb/accounts/${subscription.accountId}`];
    assert.deepEqual(
      fake.requests.map(({ method, path, authorized }) => ({ method, path, authorized })),
      [...facts, ...facts].map((path) => ({ method: 'GET', path, authorized: true })),
    );
  });

  it('provisions the instances of every subscription a paid invoice bills', async () => {
    await registerLocalPool(daemon, 'pool-local', 10);
    const accountId = randomUUID();
    const [first, second] = [
      fake.subscription({ accountId, phaseType: 'EVERGREEN', state: 'ACTIVE' }),
      fake.subscription({ accountId, phaseType: 'EVERGREEN', state: 'ACTIVE' }),
    ];
    const instances = [await linkedInstance(first.subscriptionId), await linkedInstance(second.subscriptionId)];
    const invoice = fake.invoice({
      accountId,
      balance: 0,
      items: [
        { subscriptionId: first.subscriptionId, amount: 29 },
        { subscriptionId: second.subscriptionId, amount: 29 },
        { subscriptionId: first.subscriptionId, amount: 5, itemType: 'USAGE' },
        { subscriptionId: null, amount: 12.54 },
      ],
    });

    const delivery = await deliver(daemon, invoicePaid(invoice.invoiceId, accountId));
    assert.equal(delivery.status, 200);
    const event = await settledEvent(delivery.body.id);
    assert.equal(event.status, 'processed', event.last_error ?? '');
    const settled = await Promise.all(instances.map((instance) => settledInstance(daemon, instance.id)));
    assert.deepEqual(
      settled.map((instance) => instance.status),
      ['RUNNING', 'RUNNING'],
      JSON.stringify(settled),
    );
    const invoiceRequest = fake.requests.find((request) => request.path === `/1.0/kb/invoices/${invoice.invoiceId}`);
    assert.deepEqual(invoiceRequest?.query, { withItems: 'true' });
  });

  it('provisions an instance whose credentials expired when the payment comes days after sign-up, re-issuing them', async () => {
    await registerLocalPool(daemon, 'pool-local', 10);
    const accountId = randomUUID();
    const subscription = fake.subscription({ accountId, phaseType: 'EVERGREEN', state: 'ACTIVE' });
    const instance = await linkedInstance(subscription.subscriptionId);
    // Days later: the 3600 s TTL has long removed the credentials allocation left in Redis.
    await daemon.deps.redis.del(credentialsKey(instance.id));
    const invoice = fake.invoice({ accountId, balance: 0, items: [{ subscriptionId: subscription.subscriptionId, amount: 29 }] });

    const delivery = await deliver(daemon, invoicePaid(invoice.invoiceId, accountId));
    assert.equal(delivery.status, 200);
    const event = await settledEvent(delivery.body.id);
    assert.equal(event.status, 'processed', event.last_error ?? '');
    const settled = await settledInstance(daemon, instance.id);
    assert.equal(settled.status, 'RUNNING', settled.error ?? '');
    const history = (
      await daemon.gql(`query($id: ID!) { instance(id: $id) { events { nodes { actor cause message } } } }`, { id: instance.id })
    ).data.instance.events.nodes;
    assert.ok(
      history.some(
        (entry: { actor: string; cause: string; message: string | null }) =>
          entry.actor === 'killbill' && entry.cause === 'INVOICE_PAYMENT_SUCCESS' && /credentials expired/.test(entry.message ?? ''),
      ),
      JSON.stringify(history),
    );
  });

  it('records, and does not act on, a non-trial subscription, an unpaid invoice, a requested creation and other events', async () => {
    await registerLocalPool(daemon, 'pool-local', 10);
    const evergreen = fake.subscription({ phaseType: 'EVERGREEN', state: 'ACTIVE' });
    const unpaidFor = fake.subscription({ phaseType: 'EVERGREEN', state: 'ACTIVE' });
    const instances = [await linkedInstance(evergreen.subscriptionId), await linkedInstance(unpaidFor.subscriptionId)];
    const unpaid = fake.invoice({
      accountId: unpaidFor.accountId,
      balance: 29,
      items: [{ subscriptionId: unpaidFor.subscriptionId, amount: 29 }],
    });

    const notTrial = await settledEvent((await deliver(daemon, subscriptionEvent('SUBSCRIPTION_CREATION', evergreen))).body.id);
    assert.equal(notTrial.status, 'ignored');
    assert.match(notTrial.outcome ?? '', /in phase EVERGREEN, not TRIAL/);
    const notPaid = await settledEvent((await deliver(daemon, invoicePaid(unpaid.invoiceId, unpaidFor.accountId))).body.id);
    assert.equal(notPaid.status, 'ignored');
    assert.match(notPaid.outcome ?? '', /still has 29 EUR to pay/);

    // Decided from the body alone: recorded as ignored at once, and Kill Bill is not asked.
    const requestsBefore = fake.requests.length;
    const requested = await deliver(daemon, subscriptionEvent('SUBSCRIPTION_CREATION', evergreen, 'REQUESTED'));
    assert.deepEqual([requested.status, requested.body.status], [200, 'ignored']);
    const other = await deliver(daemon, {
      eventType: 'ACCOUNT_CHANGE',
      objectType: 'ACCOUNT',
      objectId: evergreen.accountId,
      accountId: evergreen.accountId,
      metaData: null,
    });
    assert.deepEqual([other.status, other.body.status], [200, 'ignored']);
    assert.equal((await getBillingEvent(daemon.deps, other.body.id))?.outcome, 'ACCOUNT_CHANGE is not acted on');
    assert.equal(fake.requests.length, requestsBefore);

    assert.equal(await eventCount(), 4);
    for (const instance of instances) {
      assert.equal(await instanceStatus(instance.id), 'ALLOCATED');
      assert.equal((await servicesOf(instance.id)).length, 0);
    }
    const ignored = await listBillingEvents(daemon.deps, { status: 'ignored' }, { first: 10 });
    assert.equal(ignored.edges.length, 4);
    const ids = (page: { edges: { node: { id: string } }[] }) => page.edges.map((edge) => edge.node.id);
    const all = await listBillingEvents(daemon.deps, {}, { first: 200 });
    const newest = await listBillingEvents(daemon.deps, {}, { first: 2 });
    assert.deepEqual(ids(newest), ids(all).slice(0, 2));
    assert.equal(newest.pageInfo.hasNextPage, true);
    const rest = await listBillingEvents(daemon.deps, {}, { first: 200, after: newest.pageInfo.endCursor });
    assert.deepEqual(ids(rest), ids(all).slice(2), 'the next page starts where the first ended');
    assert.deepEqual([rest.pageInfo.hasNextPage, rest.pageInfo.hasPreviousPage], [false, true]);
  });

  it('records a delivery once and makes one service, however many copies arrive and however they are spelled', async () => {
    await registerLocalPool(daemon, 'pool-local', 10);
    const subscription = fake.subscription({ phaseType: 'TRIAL', state: 'ACTIVE' });
    const instance = await linkedInstance(subscription.subscriptionId);
    const notification = subscriptionEvent('SUBSCRIPTION_CREATION', subscription);
    fake.requests.length = 0;

    const deliveries = await Promise.all([1, 2, 3, 4, 5].map(() => deliver(daemon, notification)));
    assert.deepEqual(
      deliveries.map((d) => d.status),
      [200, 200, 200, 200, 200],
    );
    assert.equal(new Set(deliveries.map((d) => d.body.id)).size, 1);
    assert.equal(deliveries.filter((d) => !d.body.duplicate).length, 1);
    const event = await settledEvent(deliveries[0]!.body.id);
    assert.equal(event.status, 'processed', event.last_error ?? '');

    // Kill Bill redelivering later, keys in another order and a field we do not read: the same notification.
    const { eventType, objectType, objectId, accountId, metaData } = notification;
    const again = await deliver(daemon, JSON.stringify({ metaData, accountId, objectId, objectType, eventType, tenantId: randomUUID() }));
    assert.deepEqual([again.status, again.body.duplicate, again.body.id], [200, true, event.id]);
    assert.equal(await eventCount(), 1);
    assert.equal(fake.requests.length, 2, 'Kill Bill was asked once (the subscription, then its account)');
    assert.equal((await servicesOf(instance.id)).length, 1);
    assert.equal((await daemon.deps.docker.listSecrets({ filters: labelFilters(instanceLabels(instance.id)) })).length, 1);
  });

  it('refuses a missing or wrong token (the admin token included) and records nothing; the webhook token opens no GraphQL', async () => {
    const subscription = fake.subscription({ phaseType: 'TRIAL', state: 'ACTIVE' });
    const notification = subscriptionEvent('SUBSCRIPTION_CREATION', subscription);
    const adminToken = daemon.deps.config.adminToken;
    for (const options of [
      { token: null },
      { token: `${TOKEN}x` },
      { token: TOKEN.slice(0, -1) },
      { token: adminToken },
      { token: null, header: adminToken },
      { token: '' },
    ]) {
      const refused = await deliver(daemon, notification, options);
      assert.equal(refused.status, 401, JSON.stringify(options));
      assert.match(refused.body.error, /webhook token/);
    }
    assert.equal(await eventCount(), 0);
    assert.equal(fake.requests.length, 0);

    const graphql = await daemon.gql('{ pools { id } }', {}, { token: TOKEN });
    expectError(graphql, 'UNAUTHENTICATED');

    const byHeader = await deliver(daemon, notification, { token: null, header: TOKEN });
    assert.equal(byHeader.status, 200);
    assert.equal(await eventCount(), 1);
  });

  it('answers 400 naming the field for a body that is not a Kill Bill notification, and records nothing', async () => {
    const subscription = fake.subscription({ phaseType: 'TRIAL', state: 'ACTIVE' });
    const valid = subscriptionEvent('SUBSCRIPTION_CREATION', subscription);
    const cases: [unknown, RegExp][] = [
      ['{"eventType": "SUBSCRIPTION_CREATION", ', /^body: is not valid JSON$/],
      ['[]', /^body: must be a JSON object$/],
      [{ ...valid, eventType: undefined }, /^eventType: is required$/],
      [{ ...valid, objectType: 42 }, /^objectType: must be a string$/],
      [{ ...valid, objectId: undefined }, /^objectId: is required for SUBSCRIPTION_CREATION$/],
      [{ ...valid, objectId: 'sub-1' }, /^objectId: must be a UUID or null$/],
      [{ ...valid, metaData: { actionType: 'EFFECTIVE' } }, /^metaData: must be a string holding JSON, or null$/],
      [{ ...valid, metaData: 'EFFECTIVE' }, /^metaData: must be a string holding a JSON object for SUBSCRIPTION_CREATION$/],
      [{ ...valid, eventType: 'subscription created' }, /^eventType: must be an upper-case Kill Bill name/],
    ];
    for (const [body, reason] of cases) {
      const rejected = await deliver(daemon, body);
      assert.equal(rejected.status, 400, JSON.stringify(body));
      assert.match(rejected.body.error, reason);
    }
    assert.equal(await eventCount(), 0);
  });

  it('fails an event while its instance waits for a database, keeps it visible, and provisions once allocation happens', async () => {
    // No pool yet: the instance waits.
    const subscription = fake.subscription({ phaseType: 'TRIAL', state: 'ACTIVE' });
    const instance = await linkedInstance(subscription.subscriptionId);
    assert.equal(instance.status, 'WAITING_FOR_DATABASE');

    const delivery = await deliver(daemon, subscriptionEvent('SUBSCRIPTION_CREATION', subscription));
    assert.equal(delivery.status, 200, 'recorded: Kill Bill must not redeliver what we hold');
    const failed = await settledEvent(delivery.body.id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.attempts, 1);
    assert.match(failed.last_error ?? '', new RegExp(`instance ${instance.id}: DATABASE_NOT_ALLOCATED`));
    assert.ok(failed.next_attempt_at && failed.next_attempt_at > failed.updated_at, 'a next try is scheduled');
    assert.equal((await listBillingEvents(daemon.deps, { status: 'failed' }, { first: 10 })).edges[0]?.node.id, failed.id);
    const visible = await daemon.gql('{ billingEvents(status: FAILED) { nodes { id status attempts lastError } } }');
    assert.deepEqual(
      visible.data.billingEvents.nodes[0],
      { id: failed.id, status: 'FAILED', attempts: 1, lastError: failed.last_error },
      'admins see the failure in GraphQL',
    );

    // Still waiting: the retry fails again and backs off further.
    await eventually(
      async () => (await retryBillingEvents(daemon.deps), getBillingEvent(daemon.deps, failed.id)),
      (event) => event!.attempts >= 2,
      10_000,
    );
    const second = (await getBillingEvent(daemon.deps, failed.id))!;
    assert.equal(second.status, 'failed');
    assert.ok(second.next_attempt_at!.getTime() - second.updated_at.getTime() >= 1_900, 'the delay doubled');

    await registerLocalPool(daemon, 'pool-local', 10);
    await trackInstances(daemon.deps);
    assert.equal(await instanceStatus(instance.id), 'ALLOCATED');
    const processed = await eventually(
      async () => (await retryBillingEvents(daemon.deps), (await getBillingEvent(daemon.deps, failed.id))!),
      (event) => event.status !== 'failed',
      15_000,
      250,
    );
    assert.equal(processed.status, 'processed', processed.last_error ?? '');
    assert.equal(processed.next_attempt_at, null);
    const settled = await settledInstance(daemon, instance.id);
    assert.equal(settled.status, 'RUNNING', settled.error ?? '');
  });

  it('treats an identical body as a new event once BILLING_DEDUPE_SECONDS have passed (a later overdue episode)', async () => {
    const subscription = fake.subscription({ phaseType: 'EVERGREEN', state: 'BLOCKED' });
    const overdue = overdueChange(subscription.accountId);
    const first = await deliver(daemon, overdue);
    assert.equal(first.body.duplicate, false);
    const again = await deliver(daemon, overdue);
    assert.deepEqual([again.body.duplicate, again.body.id], [true, first.body.id]);
    await settledEvent(first.body.id);

    // Ten minutes (the default window) later, Kill Bill sends the same body for the next episode.
    await daemon.deps.db
      .updateTable('billing_events')
      .set({ received_at: sql<Date>`now() - interval '601 seconds'` })
      .where('id', '=', first.body.id)
      .execute();
    const later = await deliver(daemon, overdue);
    assert.equal(later.body.duplicate, false);
    assert.notEqual(later.body.id, first.body.id);
    assert.equal(await eventCount(), 2);
  });

  it('ignores events about subscriptions with no live instance once Kill Bill shows nothing to wait for; waits a bounded time for a creation', async () => {
    const cancelled = fake.subscription({ phaseType: 'EVERGREEN', state: 'CANCELLED' });
    const cancel = await settledEvent((await deliver(daemon, subscriptionEvent('SUBSCRIPTION_CANCEL', cancelled))).body.id);
    assert.deepEqual([cancel.status, cancel.next_attempt_at], ['ignored', null]);
    assert.match(cancel.outcome ?? '', /no live instance .* linked to subscription/);
    const active = fake.subscription({ phaseType: 'EVERGREEN', state: 'ACTIVE' });
    const change = await settledEvent((await deliver(daemon, subscriptionEvent('SUBSCRIPTION_CHANGE', active))).body.id);
    assert.equal(change.status, 'ignored');
    const paidFor = fake.invoice({
      accountId: cancelled.accountId,
      balance: 0,
      items: [{ subscriptionId: cancelled.subscriptionId, amount: 29 }],
    });
    const paid = await settledEvent((await deliver(daemon, invoicePaid(paidFor.invoiceId, cancelled.accountId))).body.id);
    assert.equal(paid.status, 'ignored');
    assert.match(paid.outcome ?? '', /no live instance is linked to subscription .*, and Kill Bill shows CANCELLED/);

    // A trial whose instance the frontend has not created yet: waited for, but not forever.
    const trial = fake.subscription({ phaseType: 'TRIAL', state: 'ACTIVE' });
    const waiting = await settledEvent((await deliver(daemon, subscriptionEvent('SUBSCRIPTION_CREATION', trial))).body.id);
    assert.equal(waiting.status, 'failed');
    assert.match(waiting.last_error ?? '', /no instance .* linked to subscription .* yet; waiting for one until /);
    await daemon.deps.db
      .updateTable('billing_events')
      .set({ received_at: sql<Date>`now() - interval '3601 seconds'`, next_attempt_at: sql<Date>`now()` })
      .where('id', '=', waiting.id)
      .execute();
    await retryBillingEvents(daemon.deps);
    const given = (await getBillingEvent(daemon.deps, waiting.id))!;
    assert.equal(given.status, 'ignored');
    assert.match(given.outcome ?? '', /was linked to subscription .* within 3600 s/);
  });

  it('compares subscription ids case-insensitively', async () => {
    await registerLocalPool(daemon, 'pool-local', 10);
    const subscription = fake.subscription({ phaseType: 'EVERGREEN', state: 'ACTIVE' });
    const created = await daemon.gql(CREATE_INSTANCE, {
      input: instanceInput({ subscriptionId: subscription.subscriptionId.toUpperCase() }),
    });
    assert.equal(created.errors, undefined, JSON.stringify(created.errors));
    const id = created.data.createInstance.id;
    const stored = await daemon.gql('query($id: ID!) { instance(id: $id) { subscriptionId } }', { id });
    assert.equal(stored.data.instance.subscriptionId, subscription.subscriptionId);
    const invoice = fake.invoice({
      accountId: subscription.accountId,
      balance: 0,
      items: [{ subscriptionId: subscription.subscriptionId.toUpperCase(), amount: 29 }],
    });
    const paid = await settledEvent((await deliver(daemon, invoicePaid(invoice.invoiceId, subscription.accountId))).body.id);
    assert.equal(paid.status, 'processed', paid.last_error ?? '');
    assert.match(paid.outcome ?? '', new RegExp(`provisioned or resumed ${id} PROVISIONING`));
    assert.equal((await settledInstance(daemon, id)).status, 'RUNNING');
  });
});

describe('Kill Bill webhook configuration and failures', () => {
  /** Stops a daemon whose scheduler retries billing events, after its last try and without the events it recorded. */
  const stopRetrying = async (daemon: TestDaemon) => {
    await daemon.daemon.leadership.stop();
    await backgroundBillingWork(daemon.deps);
    await daemon.deps.db.deleteFrom('billing_events').execute();
    await daemon.stop();
  };

  it('answers 503 when no webhook token is configured, and records nothing', async () => {
    const daemon = await startTestDaemon({ BILLING_RETRY_CRON: '0 0 1 1 *' });
    try {
      const before = await daemon.deps.db.selectFrom('billing_events').select('id').execute();
      const response = await deliver(daemon, {
        eventType: 'ACCOUNT_CHANGE',
        objectType: 'ACCOUNT',
        objectId: null,
        accountId: null,
        metaData: null,
      });
      assert.equal(response.status, 503);
      assert.match(response.body.error, /webhook not configured/);
      assert.equal((await daemon.deps.db.selectFrom('billing_events').select('id').execute()).length, before.length);
    } finally {
      await daemon.stop();
    }
  });

  it('records events without a Kill Bill API, fails them with the reason, and the scheduled job keeps retrying them', async () => {
    // Its retry job runs every second here: the failure must be retried by the scheduler, not only by a test.
    const daemon = await startTestDaemon({
      KILLBILL_WEBHOOK_TOKEN: TOKEN,
      BILLING_RETRY_BASE_SECONDS: '1',
      BILLING_RETRY_CRON: '* * * * * *',
      LEADER_RETRY_MS: '200',
    });
    try {
      const subscriptionId = randomUUID();
      const delivery = await deliver(daemon, {
        eventType: 'SUBSCRIPTION_CREATION',
        objectType: 'SUBSCRIPTION',
        objectId: subscriptionId,
        accountId: randomUUID(),
        metaData: '{"actionType":"EFFECTIVE","bundleExternalKey":"x"}',
      });
      assert.equal(delivery.status, 200);
      const retried = await eventually(
        async () => (await getBillingEvent(daemon.deps, delivery.body.id))!,
        (event) => event.attempts >= 2,
        15_000,
      );
      assert.equal(retried.status, 'failed');
      assert.equal(
        retried.last_error,
        "KILLBILL_NOT_CONFIGURED: Kill Bill's API is not configured (KILLBILL_URL is unset): cannot read the subscription.",
      );
    } finally {
      await stopRetrying(daemon);
    }
  });

  it('abandons an event after BILLING_MAX_ATTEMPTS failed tries, counts it in /metrics, and retryBillingEvent tries it again', async () => {
    const daemon = await startTestDaemon({
      KILLBILL_WEBHOOK_TOKEN: TOKEN,
      BILLING_RETRY_BASE_SECONDS: '1',
      BILLING_RETRY_CRON: '* * * * * *',
      BILLING_MAX_ATTEMPTS: '2',
      LEADER_RETRY_MS: '200',
    });
    try {
      const delivery = await deliver(daemon, {
        eventType: 'SUBSCRIPTION_CREATION',
        objectType: 'SUBSCRIPTION',
        objectId: randomUUID(),
        accountId: randomUUID(),
        metaData: '{"actionType":"EFFECTIVE","bundleExternalKey":"abandon"}',
      });
      const abandoned = await eventually(
        async () => (await getBillingEvent(daemon.deps, delivery.body.id))!,
        (event) => event.status === 'abandoned',
        20_000,
      );
      assert.deepEqual([abandoned.status, abandoned.attempts, abandoned.next_attempt_at], ['abandoned', 2, null]);
      assert.match(abandoned.last_error ?? '', /^KILLBILL_NOT_CONFIGURED: /);
      await new Promise((resolve) => setTimeout(resolve, 2500));
      assert.equal((await getBillingEvent(daemon.deps, delivery.body.id))!.attempts, 2, 'no further tries');
      const metrics = await (await scrapeMetrics(daemon.url)).text();
      assert.match(metrics, /^orchestrator_billing_events\{status="abandoned"\} 1$/m);
      assert.match(metrics, /^orchestrator_billing_events_abandoned_total\{event_type="SUBSCRIPTION_CREATION"\} 1$/m);

      // The scheduler would take the reopened event too: stopped, so that the mutation's own try is the one seen.
      await daemon.daemon.leadership.stop();
      const RETRY = 'mutation($id: ID!) { retryBillingEvent(id: $id) { id status attempts lastError } }';
      expectError(await daemon.gql(RETRY, { id: delivery.body.id }, { token: await customerToken(randomUUID()) }), 'FORBIDDEN');
      expectError(await daemon.gql(RETRY, { id: randomUUID() }), 'NOT_FOUND');
      const retried = await daemon.gql(RETRY, { id: delivery.body.id });
      assert.equal(retried.errors, undefined, JSON.stringify(retried.errors));
      assert.deepEqual([retried.data.retryBillingEvent.status, retried.data.retryBillingEvent.attempts], ['FAILED', 1]);
    } finally {
      await stopRetrying(daemon);
    }
  });

  it('answers 503 when the event cannot be recorded, so that Kill Bill delivers it again', async () => {
    const daemon = await startTestDaemon({ KILLBILL_WEBHOOK_TOKEN: TOKEN, BILLING_RETRY_CRON: '0 0 1 1 *' });
    // The same handler over a database that refuses connections.
    const unreachable = connectDatabase('postgres://nobody:nothing@127.0.0.1:1/none', 1);
    const server = createServer(createKillbillWebhook({ ...daemon.deps, db: unreachable }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const response = await deliver(
        { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` },
        { eventType: 'ACCOUNT_CHANGE', objectType: 'ACCOUNT', objectId: null, accountId: null, metaData: null },
      );
      assert.equal(response.status, 503);
      assert.match(response.body.error, /could not be recorded/);
    } finally {
      server.close();
      await unreachable.destroy();
      await daemon.stop();
    }
  });
});

describe('billing building blocks', () => {
  it('parses the documented body, and its dedupe key ignores key order, UUID case and fields we do not read', () => {
    const body = {
      eventType: 'SUBSCRIPTION_CREATION',
      objectType: 'SUBSCRIPTION',
      objectId: randomUUID(),
      accountId: randomUUID(),
      metaData: '{"actionType":"EFFECTIVE"}',
    };
    const first = parseNotification(JSON.stringify(body));
    const second = parseNotification(
      JSON.stringify({
        tenantId: 'x',
        metaData: body.metaData,
        accountId: body.accountId.toUpperCase(),
        objectId: body.objectId,
        objectType: body.objectType,
        eventType: body.eventType,
      }),
    );
    assert.ok(first.ok && second.ok);
    assert.equal(first.dedupeKey, second.dedupeKey);
    assert.match(first.dedupeKey, /^[0-9a-f]{64}$/);
    const other = parseNotification(JSON.stringify({ ...body, metaData: '{"actionType":"REQUESTED"}' }));
    assert.ok(other.ok && other.dedupeKey !== first.dedupeKey);
    // A tenant-wide event: no account, metaData a plain string (the tenant key), nulls left out by the serializer.
    const tenant = parseNotification(
      JSON.stringify({ eventType: 'TENANT_CONFIG_CHANGE', objectType: 'TENANT_KVS', metaData: 'PUSH_NOTIFICATION_CB' }),
    );
    assert.ok(tenant.ok);
    assert.deepEqual(intentOf(tenant.notification), { kind: 'ignore', reason: 'TENANT_CONFIG_CHANGE is not acted on' });
  });

  it('maps events to what is checked in Kill Bill', () => {
    const id = randomUUID();
    const account = randomUUID();
    const n = (eventType: string, metaData: string | null) => ({
      eventType,
      objectType: 'SUBSCRIPTION',
      objectId: id,
      accountId: account,
      metaData,
    });
    assert.deepEqual(intentOf(n('SUBSCRIPTION_CREATION', '{"actionType":"EFFECTIVE"}')), { kind: 'trial', subscriptionId: id });
    assert.equal(intentOf(n('SUBSCRIPTION_CREATION', '{"actionType":"REQUESTED"}')).kind, 'ignore');
    assert.deepEqual(intentOf(n('INVOICE_PAYMENT_SUCCESS', null)), { kind: 'payment', invoiceId: id });
    assert.deepEqual(intentOf(n('SUBSCRIPTION_CANCEL', '{"actionType":"EFFECTIVE"}')), { kind: 'cancellation', subscriptionId: id });
    assert.deepEqual(intentOf(n('SUBSCRIPTION_UNCANCEL', '{"actionType":"EFFECTIVE"}')), { kind: 'uncancellation', subscriptionId: id });
    assert.deepEqual(intentOf(n('SUBSCRIPTION_CHANGE', '{"actionType":"EFFECTIVE"}')), { kind: 'planChange', subscriptionId: id });
    assert.equal(intentOf(n('SUBSCRIPTION_CHANGE', '{"actionType":"REQUESTED"}')).kind, 'ignore');
    assert.deepEqual(intentOf(n('OVERDUE_CHANGE', null)), { kind: 'entitlement', accountId: account });
    assert.deepEqual(intentOf(n('BLOCKING_STATE', '{"isTransitionedToBlockedEntitlement":true}')), {
      kind: 'entitlement',
      accountId: account,
    });
    assert.deepEqual(intentOf(n('BLOCKING_STATE', '{"transitionedToBlockedEntitlement":true}')), {
      kind: 'entitlement',
      accountId: account,
    });
    assert.deepEqual(intentOf(n('BLOCKING_STATE', '{"isTransitionedToUnblockedEntitlement":true}')), {
      kind: 'entitlement',
      accountId: account,
    });
    assert.equal(
      intentOf(n('BLOCKING_STATE', '{"isTransitionedToBlockedBilling":true,"isTransitionedToBlockedEntitlement":false}')).kind,
      'ignore',
    );
    assert.equal(intentOf(n('INVOICE_PAYMENT_FAILED', null)).kind, 'ignore');
  });

  it('backs off by doubling from the base, up to the cap', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((attempt) => retryDelaySeconds(attempt, 5, 3600)),
      [5, 10, 20, 40, 80],
    );
    assert.equal(retryDelaySeconds(12, 5, 3600), 3600);
    assert.equal(retryDelaySeconds(10_000, 5, 3600), 3600);
  });

  it('reads Kill Bill with its headers and reports failures without a credential', async () => {
    const fake = await startKillbillFake();
    try {
      const config = { url: fake.url, ...fake.credentials, timeoutMs: 2000 };
      const subscription = fake.subscription({ phaseType: 'TRIAL', state: 'ACTIVE' });
      const client = createKillbillClient(config);
      const read = await client.getSubscription(subscription.subscriptionId);
      assert.deepEqual(
        [read.subscriptionId, read.accountId, read.bundleId, read.phaseType, read.state],
        [subscription.subscriptionId, subscription.accountId, subscription.bundleId, 'TRIAL', 'ACTIVE'],
      );
      const bundles = await client.getAccountBundles(subscription.accountId);
      assert.deepEqual(
        bundles.map((b) => b.subscriptions?.map((s) => s.subscriptionId)),
        [[subscription.subscriptionId]],
      );

      const failures: [() => Promise<unknown>, string][] = [
        [() => client.getInvoice(randomUUID()), 'KILLBILL_NOT_FOUND'],
        [
          () => createKillbillClient({ ...config, apiSecret: 'wrong-secret' }).getSubscription(subscription.subscriptionId),
          'KILLBILL_UNAUTHORIZED',
        ],
        [
          () => createKillbillClient({ ...config, password: 'wrong-password' }).getSubscription(subscription.subscriptionId),
          'KILLBILL_UNAUTHORIZED',
        ],
        [
          () => createKillbillClient({ ...config, url: 'http://127.0.0.1:1' }).getSubscription(subscription.subscriptionId),
          'KILLBILL_UNREACHABLE',
        ],
        [() => createKillbillClient(null).getInvoice(randomUUID()), 'KILLBILL_NOT_CONFIGURED'],
      ];
      for (const [call, code] of failures) {
        const error = await call().then(
          () => assert.fail('the call succeeded'),
          (e: unknown) => e,
        );
        assert.ok(error instanceof KillbillError, String(error));
        assert.equal(error.code, code, error.message);
        for (const secret of [fake.credentials.apiSecret, fake.credentials.password, 'wrong-secret', 'wrong-password'])
          assert.ok(!error.message.includes(secret), error.message);
      }
    } finally {
      await fake.close();
    }
  });

  it('takes the Kill Bill block as optional, but whole once KILLBILL_URL is set', () => {
    const base = {
      DATABASE_URL: 'postgres://u:p@localhost/db',
      REDIS_URL: 'redis://localhost',
      ADMIN_TOKEN: 'a'.repeat(32),
      MASTER_KEY: Buffer.alloc(32, 1).toString('base64'),
    };
    const plain = loadConfig(base).billing;
    assert.deepEqual(plain, {
      webhookToken: null,
      killbill: null,
      retryCron: '*/5 * * * * *',
      retryBaseSeconds: 5,
      retryMaxSeconds: 3600,
      dedupeSeconds: 600,
      maxAttempts: 25,
      waitForInstanceSeconds: 3600,
    });
    assert.deepEqual(loadConfig(base).plans, {
      defaultPlan: 'default',
      maxInstancesPerCustomer: 3,
      terminationGraceSeconds: 30 * 24 * 3600,
    });
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig({ ...base, ...env });
        return [];
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        return error.problems;
      }
    };
    assert.deepEqual(problems({ KILLBILL_URL: 'http://killbill:8080', KILLBILL_API_KEY: 'odoo' }), [
      'KILLBILL_API_SECRET: is required when KILLBILL_URL is set',
      'KILLBILL_USERNAME: is required when KILLBILL_URL is set',
      'KILLBILL_PASSWORD: is required when KILLBILL_URL is set',
    ]);
    assert.deepEqual(problems({ KILLBILL_WEBHOOK_TOKEN: 'a'.repeat(32), ADMIN_TOKEN: 'a'.repeat(32) }), [
      'KILLBILL_WEBHOOK_TOKEN: must differ from ADMIN_TOKEN',
    ]);
    assert.deepEqual(problems({ KILLBILL_WEBHOOK_TOKEN: 'short' }), ['KILLBILL_WEBHOOK_TOKEN: must be 24-200 letters, digits or . _ ~ -']);
    assert.deepEqual(
      problems({
        KILLBILL_URL: 'http://admin:password@killbill:8080',
        KILLBILL_API_KEY: 'k',
        KILLBILL_API_SECRET: 's',
        KILLBILL_USERNAME: 'u',
        KILLBILL_PASSWORD: 'p',
      }),
      ['KILLBILL_URL: must not carry credentials (use KILLBILL_USERNAME and KILLBILL_PASSWORD)'],
    );
    const full = loadConfig({
      ...base,
      KILLBILL_URL: 'https://killbill.example/',
      KILLBILL_API_KEY: 'k',
      KILLBILL_API_SECRET: 's',
      KILLBILL_USERNAME: 'u',
      KILLBILL_PASSWORD: 'p',
    }).billing.killbill;
    assert.deepEqual(full, {
      url: 'https://killbill.example',
      apiKey: 'k',
      apiSecret: 's',
      username: 'u',
      password: 'p',
      timeoutMs: 10_000,
    });
  });
});
