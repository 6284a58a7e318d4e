import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { SwarmService } from '../src/swarm/docker-types.js';
import { withPoolCatalog, registerLocalPool, resetState, startTestDaemon, type TestDaemon } from './support/harness.js';
import { PROVISION, allocatedInstance, settledInstance } from './support/odoo.js';

describe('provisioning failures reach the row', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await startTestDaemon({ ODOO_RESTART_MAX_ATTEMPTS: '1', ODOO_RESTART_DELAY_SECONDS: '1' });
  });
  beforeEach(async () => {
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-local', 10);
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('ends in FAILED naming the image when it does not exist', async () => {
    const missingImage = await startTestDaemon({ ODOO_IMAGE: 'local/does-not-exist:1', ODOO_RESTART_MAX_ATTEMPTS: '1' });
    try {
      const { id } = await allocatedInstance(missingImage);
      await missingImage.gql(PROVISION, { id });
      const settled = await settledInstance(missingImage, id);
      assert.equal(settled.status, 'FAILED');
      assert.match(settled.error!, /No such image: local\/does-not-exist:1/);
    } finally {
      await missingImage.stop();
    }
  });

  it('ends in FAILED with the reason when the role password no longer matches, and runs once provisioned again', async () => {
    const { id, credentials } = await allocatedInstance(daemon);
    await withPoolCatalog((client) =>
      client.query(`alter role ${client.escapeIdentifier(credentials.db_user)} password 'changed-behind-its-back'`),
    );
    await daemon.gql(PROVISION, { id });
    const failed = await settledInstance(daemon, id);
    assert.equal(failed.status, 'FAILED');
    assert.match(failed.error!, /Odoo initialisation failed 2 times; last: task: non-zero exit \(1\), exit code 1/);
    assert.match(failed.error!, /password authentication failed for user "odoo_[0-9a-f]{32}_user"/);
    assert.ok(!failed.error!.includes(credentials.db_password));

    // The operator puts the password back; a new provisioning runs without credentials in Redis.
    await withPoolCatalog((client) =>
      client.query(`alter role ${client.escapeIdentifier(credentials.db_user)} password ${client.escapeLiteral(credentials.db_password)}`),
    );
    const retried = await daemon.gql(PROVISION, { id });
    assert.equal(retried.errors, undefined, JSON.stringify(retried.errors));
    assert.equal(retried.data.provisionInstance.status, 'PROVISIONING');
    const settled = await settledInstance(daemon, id);
    assert.equal(settled.status, 'RUNNING', settled.error ?? '');
    const services = (await daemon.deps.docker.listServices({
      filters: { label: [`odoo-orchestrator.instance-id=${id}`] },
    })) as unknown as SwarmService[];
    assert.deepEqual(
      services.map((service) => service.Spec.Labels['odoo-orchestrator.role']),
      ['server'],
      'the tenant service, and no init job left',
    );
  });
});
