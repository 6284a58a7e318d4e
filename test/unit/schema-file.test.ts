import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { printedSchema, schemaFile } from '../../src/dev/print-schema.js';

describe('schema.graphql', () => {
  it('is the schema the daemon serves (run `npm run schema` after changing it)', () => {
    assert.equal(readFileSync(schemaFile, 'utf8'), printedSchema());
  });
});
