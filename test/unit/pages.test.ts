import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { complexityFromQuery } from '@pothos/plugin-complexity';
import { DomainError } from '../../src/errors.js';
import { checkPageSize, pageOf, readSerialCursor, readTimeCursor, serialCursor, timeCursor } from '../../src/domain/pages.js';
import { schema } from '../../src/schema/index.js';

const id = 'd425c7f2-57b1-439f-9a8c-fbaa8c92e001';
const refused = (field: string, rule: RegExp) => (error: unknown) =>
  error instanceof DomainError && error.code === 'VALIDATION_FAILED' && error.field === field && rule.test(error.message);

describe('pages', () => {
  it('are made from first + 1 rows: the extra row only says more follow', () => {
    const cursorOf = (n: number) => `c${n}`;
    const full = pageOf([1, 2, 3], { first: 2 }, cursorOf);
    assert.deepEqual(full.edges, [
      { cursor: 'c1', node: 1 },
      { cursor: 'c2', node: 2 },
    ]);
    assert.deepEqual(full.pageInfo, { hasNextPage: true, hasPreviousPage: false, startCursor: 'c1', endCursor: 'c2' });
    const last = pageOf([3], { first: 2, after: 'c2' }, cursorOf);
    assert.deepEqual(last.pageInfo, { hasNextPage: false, hasPreviousPage: true, startCursor: 'c3', endCursor: 'c3' });
    assert.deepEqual(pageOf([], { first: 2 }, cursorOf).pageInfo, {
      hasNextPage: false,
      hasPreviousPage: false,
      startCursor: null,
      endCursor: null,
    });
  });

  it('take a page size within bounds only', () => {
    assert.equal(checkPageSize(200, 200), 200);
    for (const first of [0, -1, 201, 1.5])
      assert.throws(() => checkPageSize(first, 200), refused('first', /first: must be between 1 and 200/));
  });

  it('read back the cursors they make, and refuse any other string', () => {
    const at = new Date('2026-11-27T10:00:00.123Z');
    assert.deepEqual(readTimeCursor(timeCursor(at, id)), { at, id });
    assert.equal(readSerialCursor(serialCursor('9223372036854775807')), '9223372036854775807');
    const forged = [
      serialCursor('42'),
      'x',
      Buffer.from(`${at.toISOString()}|not-a-uuid`).toString('base64url'),
      Buffer.from(`${at.toISOString()}|${id}|x`).toString('base64url'),
    ];
    for (const cursor of forged) assert.throws(() => readTimeCursor(cursor), refused('after', /is not a cursor this API returned/));
    for (const cursor of [timeCursor(at, id), serialCursor('9223372036854775808'), serialCursor('-1')]) {
      assert.throws(() => readSerialCursor(cursor), refused('after', /is not a cursor this API returned/));
    }
  });
});

describe('the cost of a page', () => {
  const cost = (query: string) => complexityFromQuery(query, { schema, ctx: {} }).complexity;

  it('is `first` times what is selected under it, through nodes or edges alike', () => {
    assert.equal(cost('{ instances(first: 20) { nodes { id } } }'), 1 + 20 * (1 + 1));
    assert.equal(cost('{ instances(first: 20) { edges { node { id } } } }'), 1 + 20 * (1 + 1 + 1));
    assert.equal(cost('{ instances { nodes { id } } }'), 1 + 50 * 2, 'the default page size');
    assert.equal(cost('{ billingEvents(first: 10) { nodes { id status } } }'), 1 + 10 * (1 + 2));
  });

  it("multiplies again for each instance's page of events", () => {
    assert.equal(cost('{ instances(first: 20) { nodes { events(first: 5) { nodes { id } } } } }'), 1 + 20 * (1 + (1 + 5 * (1 + 1))));
    assert.equal(
      cost('{ instances(first: 1) { nodes { events { nodes { id } } } } }'),
      1 + 1 * (1 + (1 + 100 * 2)),
      'the default page size',
    );
  });
});
