import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { secretNames, sections } from '../../src/config/config.js';
import { configurationDocument, configurationFile, configurationTables } from '../../src/dev/config-docs.js';

/** The variable names in the first cell of each table row. */
const documentedNames = (markdown: string): string[] =>
  markdown
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .flatMap((line) => [...line.split('|')[1]!.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((match) => match[1]!));

describe('docs/configuration.md', () => {
  it('is written from the config schemas (run `npm run docs:config` after changing them)', () => {
    assert.ok(
      readFileSync(configurationFile, 'utf8') === configurationDocument(),
      'docs/configuration.md is not what src/config/ gives: run `npm run docs:config`',
    );
  });

  it('documents every variable the schemas read, once, with its file twin', () => {
    const read = new Set([...sections.flatMap((section) => Object.keys(section.in.shape)), ...secretNames.map((name) => `${name}_FILE`)]);
    const documented = documentedNames(configurationDocument());
    assert.deepEqual([...documented].sort(), [...read].sort());
  });

  it('shows a default, none, required or the default a variable states, and a seconds schedule in words', () => {
    const section = z
      .object({
        A: z.string().describe('a'),
        B: z.string().optional().describe('b'),
        C: z.string().optional().describe('c').meta({ shownDefault: 'local socket' }),
        D: z.coerce.number().default(5).describe('d'),
        E: z.string().default('*/30 * * * * *').describe('e'),
        F: z.string().default('* * * * * *').describe('f'),
        G: z.string().default('0 2 * * *').describe('g'),
      })
      .transform((e) => e)
      .meta({ title: 'Test' });
    assert.equal(
      configurationTables([section], ['A']),
      [
        '## Test',
        '',
        '| Variable       | Default      | Meaning |',
        '| -------------- | ------------ | ------- |',
        '| `A` / `A_FILE` | required     | a       |',
        '| `B`            | none         | b       |',
        '| `C`            | local socket | c       |',
        '| `D`            | `5`          | d       |',
        '| `E`            | every 30 s   | e       |',
        '| `F`            | every second | f       |',
        '| `G`            | `0 2 * * *`  | g       |',
      ].join('\n'),
    );
  });

  it('documents a variable two sections read where the first reads it, and refuses one without a description', () => {
    const first = z
      .object({ A: z.string().describe('first') })
      .transform((e) => e)
      .meta({ title: 'One' });
    const second = z
      .object({ A: z.string(), B: z.string().describe('b') })
      .transform((e) => e)
      .meta({ title: 'Two' });
    const tables = configurationTables([first, second], []);
    assert.deepEqual(documentedNames(tables), ['A', 'B']);
    assert.match(tables, /^\| `A` +\| required +\| first +\|$/m);
    const undescribed = z
      .object({ C: z.string() })
      .transform((e) => e)
      .meta({ title: 'Three' });
    assert.throws(() => configurationTables([undescribed], []), /C has no description/);
  });
});
