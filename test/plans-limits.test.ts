import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { SwarmService, SwarmTask } from '../src/swarm/docker-types.js';
import { instanceLabels, labelFilters } from '../src/swarm/labels.js';
import { odooProductionSettings, odooSettingsArgs } from '../src/swarm/odoo-config.js';
import { customerToken, defaultCustomerId, instanceInput, registerLocalPool, type TestDaemon, expectError } from './support/harness.js';
import { resetBilling, settledBillingEvent, startBillingDaemon, stopBillingDaemon } from './support/billing-daemon.js';
import type { KillbillFake } from './support/killbill-fake.js';
import { deliver, subscriptionEvent } from './support/killbill-notifications.js';
import { instanceWithStatus, terminatedInstance } from './support/odoo.js';

const FIELDS = 'id customerId status plan cpuLimit memoryLimitMb subscriptionId error';
const CREATE = `mutation($input: CreateInstanceInput!) { createInstance(input: $input) { ${FIELDS} } }`;
const VIEW = `query($id: ID!) { instance(id: $id) { ${FIELDS} } }`;
const UPSERT_PLAN = 'mutation($input: PlanInput!) { upsertPlan(input: $input) { name cpuLimit memoryLimitMb description } }';
const PLANS = '{ plans { name cpuLimit memoryLimitMb } }';
const MIB = 1024 * 1024;

describe('plans decide resources; customers are held to their limits', () => {
  let fake: KillbillFake;
  let daemon: TestDaemon;
  let customer: string;

  const settledEvent = (id: string) => settledBillingEvent(daemon, id);
  const view = async (id: string) => (await daemon.gql(VIEW, { id })).data.instance;
  const statusWhen = (id: string, wanted: string) => instanceWithStatus<any>(daemon, id, wanted, { query: VIEW });
  const countLive = async (customerId: string) =>
    (
      await daemon.deps.db
        .selectFrom('instances')
        .select('id')
        .where('customer_id', '=', customerId)
        .where('status', '<>', 'TERMINATED')
        .execute()
    ).length;

  before(async () => {
    ({ fake, daemon } = await startBillingDaemon({ MAX_INSTANCES_PER_CUSTOMER: '2', BILLING_RETRY_CRON: '0 0 1 1 *' }));
    customer = await customerToken(defaultCustomerId);
  });
  beforeEach(async () => {
    await resetBilling({ fake, daemon }, ['plans']);
    await registerLocalPool(daemon, 'pool-local', 20);
  });
  after(() => stopBillingDaemon({ fake, daemon }, ['plans']));

  it('has the built-in default plan on a fresh install, and records the catalog admins define', async () => {
    assert.deepEqual((await daemon.gql(PLANS)).data.plans, [{ name: 'default', cpuLimit: 1, memoryLimitMb: 1024 }]);
    const plain = await daemon.gql(CREATE, { input: instanceInput() }, { token: customer });
    assert.equal(plain.errors, undefined, JSON.stringify(plain.errors));
    assert.deepEqual(
      [plain.data.createInstance.plan, plain.data.createInstance.cpuLimit, plain.data.createInstance.memoryLimitMb],
      ['default', 1, 1024],
    );

    const bad = await daemon.gql(UPSERT_PLAN, { input: { name: 'odoo small', cpuLimit: 100, memoryLimit: '1X' } });
    expectError(bad, 'VALIDATION_FAILED');
    assert.match(
      bad.errors[0]!.message,
      /input\.name: .*; input\.cpuLimit: must be between 0\.25 and 64 cores; input\.memoryLimit: must be a size such as 512M or 2G/,
    );
    // The smallest plan real Odoo serves in; below it the message names the minimum.
    const tooSmall = await daemon.gql(UPSERT_PLAN, { input: { name: 'odoo-tiny', cpuLimit: 0.1, memoryLimit: '384M' } });
    expectError(tooSmall, 'VALIDATION_FAILED');
    assert.match(
      tooSmall.errors[0]!.message,
      /input\.cpuLimit: must be between 0\.25 and 64 cores; input\.memoryLimit: must be between 512M and 256G/,
    );
    expectError(
      await daemon.gql(UPSERT_PLAN, { input: { name: 'odoo-small', cpuLimit: 1, memoryLimit: '1G' } }, { token: customer }),
      'FORBIDDEN',
    );

    const small = await daemon.gql(UPSERT_PLAN, { input: { name: 'odoo-small', cpuLimit: 0.5, memoryLimit: '512M' } });
    assert.deepEqual(small.data.upsertPlan, { name: 'odoo-small', cpuLimit: 0.5, memoryLimitMb: 512, description: null });
    await daemon.gql(UPSERT_PLAN, { input: { name: 'default', cpuLimit: 0.25, memoryLimit: '512M', description: 'starter' } });
    const again = await daemon.gql(UPSERT_PLAN, { input: { name: 'odoo-small', cpuLimit: 0.75, memoryLimit: '768M' } });
    assert.equal(again.data.upsertPlan.cpuLimit, 0.75, 'upsert replaces');
    assert.deepEqual((await daemon.gql(PLANS, undefined, { token: customer })).data.plans, [
      { name: 'default', cpuLimit: 0.25, memoryLimitMb: 512 },
      { name: 'odoo-small', cpuLimit: 0.75, memoryLimitMb: 768 },
    ]);
  });

  it("takes the plan named by the subscription's planName in Kill Bill, else DEFAULT_PLAN; refuses limits from customers, takes them from admins", async () => {
    await daemon.gql(UPSERT_PLAN, { input: { name: 'odoo-small', cpuLimit: 0.5, memoryLimit: '512M' } });
    const refused = await daemon.gql(CREATE, { input: instanceInput({ cpuLimit: 64, memoryLimit: '256G' }) }, { token: customer });
    expectError(refused, 'FORBIDDEN');
    assert.match(refused.errors[0]!.message, /input\.cpuLimit: only admins may set/);
    expectError(await daemon.gql(CREATE, { input: instanceInput({ memoryLimit: '2G' }) }, { token: customer }), 'FORBIDDEN');
    assert.equal(await countLive(defaultCustomerId), 0, 'nothing was created');

    const onSmall = fake.subscription({ phaseType: 'TRIAL', state: 'ACTIVE', planName: 'odoo-small' });
    const small = await daemon.gql(CREATE, { input: instanceInput({ subscriptionId: onSmall.subscriptionId }) }, { token: customer });
    assert.equal(small.errors, undefined, JSON.stringify(small.errors));
    assert.deepEqual(
      [small.data.createInstance.plan, small.data.createInstance.cpuLimit, small.data.createInstance.memoryLimitMb],
      ['odoo-small', 0.5, 512],
    );
    const history = await daemon.gql(`query($id: ID!) { instance(id: $id) { events(first: 1) { edges { node { message } } } } }`, {
      id: small.data.createInstance.id,
    });
    assert.match(history.data.instance.events.edges[0].node.message, /^created .* on plan odoo-small$/);

    const onUnknown = fake.subscription({ phaseType: 'TRIAL', state: 'ACTIVE', planName: 'odoo-enterprise-yearly' });
    const unknown = await daemon.gql(CREATE, { input: instanceInput({ subscriptionId: onUnknown.subscriptionId }) }, { token: customer });
    assert.deepEqual(
      [unknown.data.createInstance.plan, unknown.data.createInstance.cpuLimit, unknown.data.createInstance.memoryLimitMb],
      ['default', 1, 1024],
    );

    const admin = await daemon.gql(CREATE, { input: instanceInput({ customerId: randomUUID(), cpuLimit: 0.3, memoryLimit: '600M' }) });
    assert.deepEqual(
      [admin.data.createInstance.plan, admin.data.createInstance.cpuLimit, admin.data.createInstance.memoryLimitMb],
      ['default', 0.3, 600],
    );
  });

  it("links only the customer's own subscriptions, one instance each, and holds a customer to MAX_INSTANCES_PER_CUSTOMER, even at once", async () => {
    const others = fake.subscription({ phaseType: 'TRIAL', state: 'ACTIVE', customerId: randomUUID() });
    const forbidden = await daemon.gql(CREATE, { input: instanceInput({ subscriptionId: others.subscriptionId }) }, { token: customer });
    expectError(forbidden, 'FORBIDDEN');
    assert.match(forbidden.errors[0]!.message, /belongs to another customer's Kill Bill account/);
    const missing = await daemon.gql(CREATE, { input: instanceInput({ subscriptionId: randomUUID() }) }, { token: customer });
    expectError(missing, 'VALIDATION_FAILED');
    assert.match(missing.errors[0]!.message, /input\.subscriptionId: Kill Bill has no subscription/);
    // An admin creating for a customer is held to the same rule.
    expectError(await daemon.gql(CREATE, { input: instanceInput({ subscriptionId: others.subscriptionId }) }), 'FORBIDDEN');

    const own = fake.subscription({ phaseType: 'TRIAL', state: 'ACTIVE' });
    const first = await daemon.gql(CREATE, { input: instanceInput({ subscriptionId: own.subscriptionId }) }, { token: customer });
    assert.equal(first.errors, undefined, JSON.stringify(first.errors));
    const twice = await daemon.gql(CREATE, { input: instanceInput({ subscriptionId: own.subscriptionId }) }, { token: customer });
    expectError(twice, 'CONFLICT');
    assert.match(twice.errors[0]!.message, /already linked to a live instance/);

    const secondInput = instanceInput();
    const second = await daemon.gql(CREATE, { input: secondInput }, { token: customer });
    assert.equal(second.errors, undefined);
    const third = await daemon.gql(CREATE, { input: instanceInput() }, { token: customer });
    expectError(third, 'CONFLICT');
    assert.match(third.errors[0]!.message, /already has 2 live instances.*MAX_INSTANCES_PER_CUSTOMER=2/);
    // Repeating a request that succeeded returns its instance: a retry is not refused by the limit.
    const repeat = await daemon.gql(CREATE, { input: secondInput }, { token: customer });
    assert.equal(repeat.data?.createInstance.id, second.data.createInstance.id, JSON.stringify(repeat.errors));
    assert.equal(await countLive(defaultCustomerId), 2);

    // A terminated instance no longer counts.
    await terminatedInstance(daemon, second.data.createInstance.id, { token: customer });
    assert.equal((await daemon.gql(CREATE, { input: instanceInput() }, { token: customer })).errors, undefined);

    // Six requests at once from a fresh customer: exactly the limit gets through.
    const racer = randomUUID();
    const racerToken = await customerToken(racer);
    const results = await Promise.all(
      Array.from({ length: 6 }, () => daemon.gql(CREATE, { input: instanceInput({ customerId: racer }) }, { token: racerToken })),
    );
    assert.equal(results.filter((result) => !result.errors).length, 2, JSON.stringify(results.map((r) => r.errors?.[0]?.message)));
    assert.ok(results.filter((result) => result.errors).every((result) => result.errors?.[0]?.extensions?.code === 'CONFLICT'));
    assert.equal(await countLive(racer), 2);
  });

  it("acts on webhooks only for instances whose customer owns the subscription's account", async () => {
    const subscription = fake.subscription({ phaseType: 'TRIAL', state: 'ACTIVE' });
    const created = await daemon.gql(
      CREATE,
      { input: instanceInput({ subscriptionId: subscription.subscriptionId }) },
      { token: customer },
    );
    const id = created.data.createInstance.id;
    // The account now says it belongs to someone else (Kill Bill is the truth): the instance is not touched.
    fake.account({ accountId: subscription.accountId, externalKey: randomUUID() });
    const event = await settledEvent((await deliver(daemon, subscriptionEvent('SUBSCRIPTION_CREATION', subscription))).body.id);
    assert.equal(event.status, 'failed');
    assert.match(event.last_error ?? '', /no instance of the account's customer is linked/);
    assert.equal((await view(id)).status, 'ALLOCATED');
  });

  it('moves a running instance to its new plan on SUBSCRIPTION_CHANGE and resizes its service live', async () => {
    await daemon.gql(UPSERT_PLAN, { input: { name: 'odoo-small', cpuLimit: 0.25, memoryLimit: '512M' } });
    await daemon.gql(UPSERT_PLAN, { input: { name: 'odoo-big', cpuLimit: 0.75, memoryLimit: '2G' } });
    const subscription = fake.subscription({ phaseType: 'TRIAL', state: 'ACTIVE', planName: 'odoo-small' });
    const created = await daemon.gql(
      CREATE,
      { input: instanceInput({ subscriptionId: subscription.subscriptionId }) },
      { token: customer },
    );
    const id = created.data.createInstance.id;
    await settledEvent((await deliver(daemon, subscriptionEvent('SUBSCRIPTION_CREATION', subscription))).body.id);
    assert.equal((await statusWhen(id, 'RUNNING')).status, 'RUNNING');
    const service = async () =>
      ((await daemon.deps.docker.listServices({ filters: labelFilters(instanceLabels(id)) })) as unknown as SwarmService[])[0]!;
    const runningTasks = async () =>
      (
        (await daemon.deps.docker.listTasks({
          filters: { ...labelFilters(instanceLabels(id)), 'desired-state': ['running'] },
        })) as SwarmTask[]
      ).filter((task) => task.Status.State === 'running');
    assert.deepEqual((await service()).Spec.TaskTemplate.Resources?.Limits, { NanoCPUs: 0.25e9, MemoryBytes: 512 * MIB });
    const settingsOf = (limits: { cpuLimit: number; memoryLimitMb: number }) => odooSettingsArgs(odooProductionSettings(limits));
    const args = async () => (await service()).Spec.TaskTemplate.ContainerSpec.Args ?? [];
    assert.deepEqual((await args()).slice(-8), settingsOf({ cpuLimit: 0.25, memoryLimitMb: 512 }));
    const [before] = await runningTasks();

    fake.subscription({
      subscriptionId: subscription.subscriptionId,
      accountId: subscription.accountId,
      bundleId: subscription.bundleId,
      phaseType: 'EVERGREEN',
      state: 'ACTIVE',
      planName: 'odoo-big',
    });
    const started = Date.now();
    const changed = await settledEvent((await deliver(daemon, subscriptionEvent('SUBSCRIPTION_CHANGE', subscription))).body.id);
    assert.equal(changed.status, 'processed', changed.last_error ?? '');
    assert.match(changed.outcome ?? '', new RegExp(`moved to plan odoo-big ${id} RESTARTING`));
    const resized = await statusWhen(id, 'RUNNING');
    console.log(`[measure] live resize (SUBSCRIPTION_CHANGE delivered -> RUNNING on the new limits): ${Date.now() - started} ms`);
    assert.deepEqual([resized.plan, resized.cpuLimit, resized.memoryLimitMb], ['odoo-big', 0.75, 2048]);
    assert.deepEqual((await service()).Spec.TaskTemplate.Resources?.Limits, { NanoCPUs: 0.75e9, MemoryBytes: 2048 * MIB });
    // The workers and memory limits follow the plan, on the command line and in the spec recorded on the instance.
    assert.deepEqual((await args()).slice(-8), settingsOf({ cpuLimit: 0.75, memoryLimitMb: 2048 }));
    const row = await daemon.deps.db.selectFrom('instances').select('odoo_spec').where('id', '=', id).executeTakeFirstOrThrow();
    assert.deepEqual(row.odoo_spec, {
      version: '17.0',
      image: daemon.deps.config.odooImages['17.0'],
      cpuLimit: 0.75,
      memoryLimitMb: 2048,
      settings: odooProductionSettings({ cpuLimit: 0.75, memoryLimitMb: 2048 }),
      env: daemon.deps.config.tenants.odooExtraEnv,
    });
    const [after] = await runningTasks();
    assert.notEqual(after?.ID, before?.ID, 'a resized task replaced the old one');
    assert.deepEqual((after as unknown as { Spec: { Resources: { Limits: unknown } } }).Spec.Resources.Limits, {
      NanoCPUs: 0.75e9,
      MemoryBytes: 2048 * MIB,
    });
    const history = await daemon.gql('query($id: ID!) { instance(id: $id) { events { nodes { from to cause actor } } } }', { id });
    const moves = history.data.instance.events.nodes
      .filter((e: { to: string | null }) => e.to)
      .map((e: { from: string; to: string; cause: string }) => `${e.from}->${e.to} ${e.cause}`);
    assert.deepEqual(moves.slice(-2), ['RUNNING->RESTARTING SUBSCRIPTION_CHANGE', 'RESTARTING->RUNNING tracking']);
  });
});
