import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkJobName } from '../src/swarm/odoo-check-job.js';
import { moduleJobName } from '../src/swarm/odoo-module-job.js';
import {
  customerToken,
  eventually,
  expectError,
  registerLocalPool,
  resetState,
  startTestDaemon,
  testRun,
  type TestDaemon,
} from './support/harness.js';
import { allocatedInstance, PROVISION, settledInstance } from './support/odoo.js';
import { run } from './support/real-odoo.js';
import { openSubscription, sseEvents } from './support/sse.js';
import { partnerNames, writePartners } from './support/tenant-data.js';

const VERSION = '17.0';
const ROLLOUT_FIELDS = `id version image batch status error
  tenants { instanceId position status error moduleChangeId } events { instanceId message }`;
const ROLLOUT = `mutation($version: String!, $image: String!, $batch: Int) {
  rolloutOdooVersion(version: $version, image: $image, batch: $batch) { ${ROLLOUT_FIELDS} } }`;
const VIEW_ROLLOUT = `query($id: ID!) { rollout(id: $id) { ${ROLLOUT_FIELDS} } }`;
const PIN = 'mutation($id: ID!, $pinned: Boolean!) { pinInstanceImage(instanceId: $id, pinned: $pinned) { id image pinnedImage } }';
const VIEW = `query($id: ID!) { instance(id: $id) { id status error image pinnedImage
  moduleChanges { id kind modules image status error finalBackupId createdAt finishedAt } } }`;
const STOP = 'mutation($id: ID!) { stopInstance(instanceId: $id) { status } }';
const env = { BACKUP_TRACKING_CRON: '* * * * * *' };

/** A build of the stand-in made from the one under test, as a new Odoo build would be: its own image id. */
async function standinBuild(name: string, lines: string[]): Promise<string> {
  const tag = `local/odoo-standin:${VERSION}-${name}-${testRun}`;
  await run('docker', ['build', '-q', '-t', tag, '-'], [`FROM ${process.env.ODOO_IMAGE}`, ...lines].join('\n'), false);
  return tag;
}

/**
 * rolloutOdooVersion on the stand-in Odoo: tenants of the version taken a batch at a time (stopped, a FINAL backup,
 * `-u all` on the new image, started on it, their login page checked), pinned ones passed by, a daemon replaced
 * mid-way; then a build whose login page fails: the tenant rolled back to the image and data it had, the rollout
 * stopped with the others not reached.
 */
describe('rollouts of a new build', () => {
  const original = process.env.ODOO_IMAGE!;
  let next: string;
  let broken: string;
  let daemon: TestDaemon;
  const ids: string[] = [];

  const view = async (id: string) => (await daemon.gql(VIEW, { id })).data.instance;
  const rolloutWhen = (id: string, done: (rollout: any) => boolean) =>
    eventually(async () => (await daemon.gql(VIEW_ROLLOUT, { id })).data.rollout, done, 240_000, 250);
  const withImage = async (image: string) => {
    await daemon.stop();
    daemon = await startTestDaemon({ ...env, ODOO_IMAGES: `${VERSION}=${image}` });
  };

  before(async () => {
    process.env.DOCKER_BUILDKIT = '0';
    next = await standinBuild('next', ['LABEL odoo-orchestrator.test-build=next']);
    broken = await standinBuild('broken-login', ['ENV STANDIN_BROKEN_LOGIN=1']);
    daemon = await startTestDaemon(env);
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 10);
    for (let index = 0; index < 4; index++) {
      const { id } = await allocatedInstance(daemon);
      await daemon.gql(PROVISION, { id });
      ids.push(id);
    }
    // Generous: beside the other suites, four tenants starting at once on two cores take their time.
    for (const id of ids) assert.equal((await settledInstance(daemon, id, 300_000)).status, 'RUNNING');
    await writePartners(ids[0]!, ['Before the rollouts']);
    await daemon.gql(STOP, { id: ids[3] });
    await eventually(
      () => view(ids[3]!),
      (instance) => instance.status === 'STOPPED',
      60_000,
      250,
    );
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
    await run('docker', ['rmi', next, broken]).catch(() => undefined);
  });

  it('refuses an image ODOO_IMAGES does not give the version, an unknown version, a bad batch, and customers', async () => {
    await withImage(next);
    expectError(await daemon.gql(ROLLOUT, { version: VERSION, image: original }), 'VALIDATION_FAILED', 'image');
    expectError(await daemon.gql(ROLLOUT, { version: '16.0', image: next }), 'VALIDATION_FAILED', 'version');
    expectError(await daemon.gql(ROLLOUT, { version: VERSION, image: next, batch: 0 }), 'VALIDATION_FAILED', 'batch');
    const customer = await customerToken('0a0b0c0d-1111-4222-8333-944455556666');
    expectError(await daemon.gql(ROLLOUT, { version: VERSION, image: next }, { token: customer }), 'FORBIDDEN');
    assert.deepEqual((await daemon.gql('{ rollouts { id } }')).data.rollouts, []);
  });

  it('takes the tenants two at a time, passes the pinned one by, streams its events, and a replaced daemon finishes it', async () => {
    const pinned = await daemon.gql(PIN, { id: ids[2], pinned: true });
    assert.deepEqual(pinned.data.pinInstanceImage.pinnedImage, original);

    const asked = await Promise.all([1, 2].map(() => daemon.gql(ROLLOUT, { version: VERSION, image: next, batch: 2 })));
    const [first, second] = asked.map((answer) => answer.data?.rolloutOdooVersion);
    assert.equal(first?.id, second?.id, JSON.stringify(asked.map((answer) => answer.errors)));
    const rolloutId = first.id as string;
    assert.deepEqual(
      first.tenants.map((tenant: any) => [tenant.instanceId, tenant.position]),
      [ids[0], ids[1], ids[3], ids[2]].map((id, position) => [id, position]),
      'the oldest first, the pinned one last',
    );
    assert.equal(first.tenants[3].status, 'SKIPPED');
    assert.equal(first.tenants[3].error, `pinned to ${original}`);

    // Another replica streams the events, through Redis, while the leader is replaced.
    const replica = await startTestDaemon({ ...env, ODOO_IMAGES: `${VERSION}=${next}` });
    const controller = new AbortController();
    const stream = await openSubscription(
      replica.url,
      replica.deps.config.adminToken,
      'subscription($id: ID!) { rolloutEvents(rolloutId: $id) { instanceId message } }',
      { id: rolloutId },
      controller.signal,
    );
    assert.equal(stream.status, 200);
    const live: string[] = [];
    const collecting = (async () => {
      for await (const payload of sseEvents(stream)) {
        live.push(payload.data.rolloutEvents.message);
        if (live.at(-1)!.startsWith('rollout ')) return;
      }
    })().catch(() => undefined);

    // The first batch's tenants are stopped and updating; the daemon is replaced while their jobs run.
    await eventually(
      () => daemon.deps.db.selectFrom('module_changes').select('status').where('kind', '=', 'rollout').execute(),
      (rows) => rows.some((row) => row.status === 'APPLYING'),
      120_000,
      100,
    );
    await withImage(next);
    const done = await rolloutWhen(rolloutId, (rollout) => rollout.status !== 'RUNNING');
    assert.equal(done.status, 'COMPLETED', JSON.stringify(done));
    assert.deepEqual(
      done.tenants.map((tenant: any) => tenant.status),
      ['COMPLETED', 'COMPLETED', 'COMPLETED', 'SKIPPED'],
    );
    await Promise.race([collecting, new Promise((resolve) => setTimeout(resolve, 5000))]);
    controller.abort();
    await replica.stop();
    assert.ok(live.includes(`instance ${ids[3]}: updating all modules on ${next}`), live.join('\n'));
    assert.ok(live.includes(`instance ${ids[1]} runs ${next}`), live.join('\n'));
    assert.match(done.events.at(-1).message, /^rollout completed \(3 completed, 1 skipped\)$/);

    const [a, b, kept, stopped] = await Promise.all(ids.map(view));
    for (const instance of [a, b]) {
      assert.deepEqual([instance.status, instance.image, instance.error], ['RUNNING', next, null]);
      const [change] = instance.moduleChanges;
      assert.deepEqual([change.kind, change.modules, change.image, change.status], ['rollout', ['all'], next, 'COMPLETED']);
      assert.ok(change.finalBackupId, 'a FINAL backup came first');
    }
    assert.deepEqual([stopped.status, stopped.image], ['STOPPED', next], 'a stopped tenant stays stopped, on the new image');
    assert.deepEqual([kept.status, kept.image, kept.moduleChanges], ['RUNNING', original, []], 'the pinned tenant is left alone');
    const secondBatch = stopped.moduleChanges[0];
    const firstBatchDone = Math.max(...[a, b].map((instance) => Date.parse(instance.moduleChanges[0].finishedAt)));
    assert.ok(Date.parse(secondBatch.createdAt) >= firstBatchDone, 'the second batch starts once the first is done');
    assert.deepEqual(await partnerNames(ids[0]!), ['Before the rollouts']);
    for (const change of [a, b, stopped].map((instance) => instance.moduleChanges[0]))
      assert.deepEqual(
        await daemon.deps.docker.listServices({ filters: { name: [moduleJobName(change.id), checkJobName(change.id)] } }),
        [],
      );
  });

  it('a build whose login page fails: the tenant rolled back to its image and data, the rollout stopped', async () => {
    await daemon.gql(PIN, { id: ids[2], pinned: false });
    await withImage(broken);
    const started = await daemon.gql(ROLLOUT, { version: VERSION, image: broken, batch: 1 });
    assert.equal(started.errors, undefined, JSON.stringify(started.errors));
    const rolloutId = started.data.rolloutOdooVersion.id as string;
    const done = await rolloutWhen(rolloutId, (rollout) => rollout.status !== 'RUNNING');
    assert.equal(done.status, 'FAILED');
    assert.match(
      done.error,
      new RegExp(`^instance ${ids[0]} failed on ${broken} and was rolled back; the rollout stopped with 3 tenant\\(s\\) not reached$`),
    );
    assert.deepEqual(
      done.tenants.map((tenant: any) => tenant.status),
      ['FAILED', 'PENDING', 'PENDING', 'PENDING'],
    );
    assert.match(done.tenants[0].error, /login page did not answer/);

    const rolledBack = await eventually(
      () => view(ids[0]!),
      (instance) => instance.moduleChanges[0]?.status === 'FAILED',
      120_000,
      250,
    );
    const [change] = rolledBack.moduleChanges;
    assert.equal(change.image, broken);
    assert.match(change.error, /^rolloutOdooVersion \(.+\) failed and was rolled back to backup /);
    assert.deepEqual([rolledBack.status, rolledBack.image], ['RUNNING', next], 'back on the image it ran');
    assert.equal(rolledBack.error, change.error, 'the error stays on the instance');
    assert.deepEqual(await partnerNames(ids[0]!), ['Before the rollouts'], 'no data lost');
    for (const id of ids.slice(1)) assert.notEqual((await view(id)).image, broken, 'the others were not reached');
  });
});
