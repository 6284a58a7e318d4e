import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { mermaidStateDiagram, statesDocument, statesFile } from '../../src/dev/state-diagram.js';

describe('docs/states.md', () => {
  it('is drawn from the transition table the daemon checks (run `npm run docs:states` after changing it)', () => {
    assert.equal(readFileSync(statesFile, 'utf8'), statesDocument());
  });

  it('draws one edge per allowed move, and an end for a status with no way out', () => {
    assert.equal(
      mermaidStateDiagram({ A: ['B', 'C'], B: ['C'], C: [] }, 'A'),
      'stateDiagram-v2\n  [*] --> A\n  A --> B\n  A --> C\n  B --> C\n  C --> [*]',
    );
  });
});
