import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canTransition, instanceTransitions } from '../../src/domain/instances/instance-status.js';
import type { InstanceStatus } from '../../src/db/schema.js';

const statusesBefore = (to: InstanceStatus) =>
  (Object.keys(instanceTransitions) as InstanceStatus[]).filter((from) => canTransition(from, to));
import { credentialsKey, odooServiceName, tenantDatabaseName, tenantRoleName } from '../../src/domain/names.js';

const id = 'd425c7f2-57b1-439f-9a8c-fbaa8c92e001';

describe('names', () => {
  it('derive tenant database and role from the instance id, within PostgreSQL limits', () => {
    assert.equal(tenantDatabaseName(id), 'odoo_d425c7f257b1439f9a8cfbaa8c92e001');
    assert.equal(tenantRoleName(id), 'odoo_d425c7f257b1439f9a8cfbaa8c92e001_user');
    assert.ok(tenantRoleName(id).length <= 63);
  });
  it("use the seed's Redis key", () => {
    assert.equal(credentialsKey(id), `instance:${id}:db_credentials`);
  });
  it('make a Swarm service name that is a DNS label', () => {
    const name = odooServiceName({ id, subdomain: `${'a'.repeat(39)}-b${'c'.repeat(20)}` });
    assert.match(name, /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])$/);
    assert.ok(name.endsWith('-d425c7f2'));
  });
});

describe('instance status', () => {
  it('lets allocation follow creation or waiting (and a load from a backup end there), and nothing follow termination', () => {
    assert.deepEqual(statusesBefore('ALLOCATED'), ['CREATING', 'WAITING_FOR_DATABASE', 'RESTORING']);
    assert.equal(canTransition('TERMINATED', 'CREATING'), false);
    assert.equal(canTransition('PROVISIONING', 'RUNNING'), true);
    assert.equal(canTransition('ALLOCATED', 'RUNNING'), false);
  });
});
