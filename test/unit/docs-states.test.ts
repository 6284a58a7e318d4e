import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { mermaidStateDiagram, policyTable, statesDocument, statesFile } from '../../src/dev/state-diagram.js';

describe('docs/states.md', () => {
  it('is drawn from the moves and the policy the daemon checks (run `npm run docs:states` after changing them)', () => {
    assert.equal(readFileSync(statesFile, 'utf8'), statesDocument());
  });

  it('draws one edge per pair of statuses, labelled with the moves that make it, and an end for a status no move leaves', () => {
    const moves = { go: { from: ['A'], to: 'B' }, skip: { from: ['A', 'B'], to: 'C' }, jump: { from: ['A'], to: 'C' } };
    assert.equal(
      mermaidStateDiagram(['A', 'B', 'C'], moves, 'A'),
      'stateDiagram-v2\n  [*] --> A\n  A --> B : go\n  A --> C : skip, jump\n  B --> C : skip\n  C --> [*]',
    );
  });

  it('lists each rule with its statuses, in the order of the policy', () => {
    assert.equal(
      policyTable({ serving: ['RUNNING', 'DEGRADED'], ended: ['TERMINATED'] }),
      [
        '| rule      | statuses          |',
        '| --------- | ----------------- |',
        '| `serving` | RUNNING, DEGRADED |',
        '| `ended`   | TERMINATED        |',
      ].join('\n'),
    );
  });
});
