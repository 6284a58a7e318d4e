import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import {
  CREATE_INSTANCE,
  customerJwtSecret,
  customerToken,
  instanceInput,
  registerLocalPool,
  resetState,
  startTestDaemon,
  type TestDaemon,
  expectError,
} from './support/harness.js';

const alice = '11111111-1111-4111-8111-111111111111';
const bob = '22222222-2222-4222-8222-222222222222';

describe('who may do what', () => {
  let daemon: TestDaemon;
  let aliceToken: string;
  let aliceInstance: string;
  let bobInstance: string;

  before(async () => {
    daemon = await startTestDaemon();
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 5);
    aliceToken = await customerToken(alice);
    const created = await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ customerId: alice }) }, { token: aliceToken });
    assert.equal(created.errors, undefined, JSON.stringify(created.errors));
    aliceInstance = created.data.createInstance.id;
    bobInstance = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ customerId: bob }) })).data.createInstance.id;
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  const codeOf = (result: { errors?: { extensions?: { code?: string } }[] }) => result.errors?.[0]?.extensions?.code;

  it("lets a customer read its own instances and history, and nobody else's", async () => {
    const own = await daemon.gql(
      'query($id: ID!) { instance(id: $id) { id customerId events { nodes { to actor } } } }',
      { id: aliceInstance },
      { token: aliceToken },
    );
    assert.equal(own.data.instance.customerId, alice);
    assert.equal(own.data.instance.events.nodes[0].actor, `customer:${alice}`);
    const list = await daemon.gql('{ instances { totalCount nodes { customerId } } }', undefined, { token: aliceToken });
    assert.deepEqual(list.data.instances.nodes, [{ customerId: alice }]);
    // Another customer's instance looks exactly like one that does not exist.
    expectError(await daemon.gql('query($id: ID!) { instance(id: $id) { id } }', { id: bobInstance }, { token: aliceToken }), 'NOT_FOUND');
    const missing = await daemon.gql(
      'query($id: ID!) { instance(id: $id) { id } }',
      { id: '33333333-3333-4333-8333-333333333333' },
      { token: aliceToken },
    );
    expectError(missing, 'NOT_FOUND');
    assert.equal(
      (await daemon.gql('query($id: ID!) { instance(id: $id) { id } }', { id: bobInstance }, { token: aliceToken })).errors?.[0]?.message,
      missing.errors?.[0]?.message.replace('33333333-3333-4333-8333-333333333333', bobInstance),
    );
    expectError(
      await daemon.gql('query($c: ID) { instances(customerId: $c) { totalCount } }', { c: bob }, { token: aliceToken }),
      'FORBIDDEN',
    );
  });

  it("refuses a customer acting on another customer's instance (as if it did not exist) or for another customer", async () => {
    for (const verb of ['stopInstance', 'startInstance', 'restartInstance', 'terminateInstance']) {
      const result = await daemon.gql(
        `mutation($id: ID!) { ${verb}(instanceId: $id) { status } }`,
        { id: bobInstance },
        { token: aliceToken },
      );
      assert.equal(codeOf(result), 'NOT_FOUND', verb);
    }
    expectError(await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ customerId: bob }) }, { token: aliceToken }), 'FORBIDDEN');
    const bobRow = await daemon.deps.db.selectFrom('instances').select('status').where('id', '=', bobInstance).executeTakeFirstOrThrow();
    assert.equal(bobRow.status, 'ALLOCATED', "bob's instance was not touched");
  });

  it('keeps pools, allocation and provisioning for admins', async () => {
    for (const query of [
      '{ pools { id } }',
      '{ poolStats { pools } }',
      `mutation { provisionInstance(instanceId: "${aliceInstance}") { status } }`,
      `mutation { allocateDatabase(instanceId: "${aliceInstance}") { dbName } }`,
      'mutation { provisionPool(input: { maxInstances: 1 }) { id } }',
    ]) {
      assert.equal(codeOf(await daemon.gql(query, undefined, { token: aliceToken })), 'FORBIDDEN', query);
    }
    const graphiql = await fetch(`${daemon.url}/graphql`, { headers: { accept: 'text/html', authorization: `Bearer ${aliceToken}` } });
    assert.equal(graphiql.status, 401, 'GraphiQL is for admins only');
  });

  it('refuses tokens it cannot verify', async () => {
    const forged = await customerToken(alice, 'another-secret-that-is-long-enough-to-sign');
    expectError(await daemon.gql('{ instances { totalCount } }', undefined, { token: forged }), 'UNAUTHENTICATED');
    const forever = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(alice)
      .setIssuedAt()
      .sign(new TextEncoder().encode(customerJwtSecret));
    assert.equal(
      codeOf(await daemon.gql('{ instances { totalCount } }', undefined, { token: forever })),
      'UNAUTHENTICATED',
      'a token without exp',
    );
    const [header, , signature] = aliceToken.split('.');
    const tampered = `${header}.${Buffer.from(JSON.stringify({ sub: bob })).toString('base64url')}.${signature}`;
    expectError(await daemon.gql('{ instances { totalCount } }', undefined, { token: tampered }), 'UNAUTHENTICATED');
  });
});
