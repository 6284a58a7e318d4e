import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  customerToken,
  eventually,
  expectError,
  registerLocalPool,
  resetState,
  startTestDaemon,
  type TestDaemon,
} from './support/harness.js';
import { allocatedInstance } from './support/odoo.js';

const FIELDS = 'id status stagingOf stagingExpiresAt';
const VIEW = `query($id: ID!) { instance(id: $id) { ${FIELDS} events(first: 50) { nodes { cause actor to } } } }`;
const RENEW = `mutation($id: ID!) { renewStaging(instanceId: $id) { ${FIELDS} } }`;

/**
 * A staging copy's life after it is made (createStaging itself runs on real Odoo: test/real-odoo-changes.test.ts):
 * renewed for STAGING_TTL_DAYS from now by its owner, and terminated by the reconciler once its time is up, its source
 * untouched. The copy here is an allocated instance marked as one.
 */
describe('staging copies expire unless renewed', () => {
  let daemon: TestDaemon;
  let source: string;
  let copy: string;
  const view = async (id: string) => (await daemon.gql(VIEW, { id })).data.instance;

  before(async () => {
    daemon = await startTestDaemon({ STAGING_TTL_DAYS: '3' });
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 10);
    ({ id: source } = await allocatedInstance(daemon));
    ({ id: copy } = await allocatedInstance(daemon));
    await daemon.deps.db
      .updateTable('instances')
      .set({ staging_of: source, staging_expires_at: new Date(Date.now() + 3_600_000) })
      .where('id', '=', copy)
      .execute();
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('is renewed for STAGING_TTL_DAYS from now, by its owner; another customer and an instance that is no copy are refused', async () => {
    const owner = await customerToken(
      (await daemon.deps.db.selectFrom('instances').select('customer_id').where('id', '=', copy).executeTakeFirstOrThrow()).customer_id,
    );
    const renewed = await daemon.gql(RENEW, { id: copy }, { token: owner });
    assert.equal(renewed.errors, undefined, JSON.stringify(renewed.errors));
    const ttl = Date.parse(renewed.data.renewStaging.stagingExpiresAt) - Date.now();
    assert.ok(Math.abs(ttl - 3 * 86_400_000) < 60_000, `STAGING_TTL_DAYS from now: ${renewed.data.renewStaging.stagingExpiresAt}`);
    assert.equal(renewed.data.renewStaging.stagingOf, source);
    expectError(await daemon.gql(RENEW, { id: copy }, { token: await customerToken('0a0b0c0d-1111-4222-8333-944455556666') }), 'NOT_FOUND');
    expectError(await daemon.gql(RENEW, { id: source }), 'CONFLICT');
  });

  it('is terminated by the reconciler once its time is up, though it is only ALLOCATED; its source is not', async () => {
    await daemon.deps.db
      .updateTable('instances')
      .set({ staging_expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', copy)
      .execute();
    const gone = await eventually(
      () => view(copy),
      (found) => found.status === 'TERMINATED',
      120_000,
      250,
    );
    assert.equal(gone.status, 'TERMINATED');
    assert.ok(
      gone.events.nodes.some((event: any) => event.cause === 'staging-expiry' && event.actor === 'scheduler' && event.to === 'TERMINATING'),
      JSON.stringify(gone.events.nodes),
    );
    assert.equal((await view(source)).status, 'ALLOCATED');
  });
});
