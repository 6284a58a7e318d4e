import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { conditionList, latestReason, reasonIn } from '../../src/domain/instances/instance-conditions.js';

describe("an instance's conditions", () => {
  const conditions = {
    service: { reason: 'Odoo is not running (exit code 137)', since: '2026-06-01T12:00:05.000000+00:00' },
    moduleChange: { reason: 'installing probe failed; rolled back', since: '2026-06-01T12:00:01.500000+00:00' },
  };

  it('lists them oldest first, each with its phase', () => {
    assert.deepEqual(
      conditionList(conditions).map((condition) => condition.phase),
      ['moduleChange', 'service'],
    );
  });

  it('reads the newest as what went wrong last, and none when nothing is wrong', () => {
    assert.equal(latestReason(conditions), 'Odoo is not running (exit code 137)');
    assert.equal(latestReason({}), null);
  });

  it("reads one phase's reason, or null", () => {
    assert.equal(reasonIn({ conditions }, 'moduleChange'), 'installing probe failed; rolled back');
    assert.equal(reasonIn({ conditions }, 'allocation'), null);
  });
});
