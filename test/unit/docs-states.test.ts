import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { mermaidStateDiagram, policyTable, statesDocument, statesFile } from '../../src/dev/state-diagram.js';

describe('docs/states.md', () => {
  it('is drawn from the transition table and the policy the daemon checks (run `npm run docs:states` after changing them)', () => {
    assert.equal(readFileSync(statesFile, 'utf8'), statesDocument());
  });

  it('draws one edge per allowed move, and an end for a status with no way out', () => {
    assert.equal(
      mermaidStateDiagram({ A: ['B', 'C'], B: ['C'], C: [] }, 'A'),
      'stateDiagram-v2\n  [*] --> A\n  A --> B\n  A --> C\n  B --> C\n  C --> [*]',
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
