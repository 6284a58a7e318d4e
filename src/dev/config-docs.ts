import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { secretNames, sections } from '../config/config.js';
import { projectRoot } from '../project-root.js';
import { markdownTable } from './markdown-table.js';

/** A config section as the docs see it: the variables its object reads, and its title. */
export type DocumentedSection = z.ZodPipe<z.ZodObject, z.ZodType>;

/** Schedules of one run every N seconds read better in words, as operators set them. */
const everySeconds = /^\*(?:\/(\d+))? \* \* \* \* \*$/;

function shownDefault(field: z.ZodType): string {
  const shown = field.meta()?.shownDefault;
  if (shown) return shown;
  if (!(field instanceof z.ZodDefault)) return field instanceof z.ZodOptional ? 'none' : 'required';
  const value = String(field.def.defaultValue);
  const every = everySeconds.exec(value);
  if (every) return every[1] ? `every ${every[1]} s` : 'every second';
  return `\`${value}\``;
}

/**
 * Pure: a `##` heading and a table per section, a row per variable in the schema's order. A variable more than one
 * section reads is documented by the first; one named in `fileTwins` may also come from a file (`NAME_FILE`).
 */
export function configurationTables(documented: readonly DocumentedSection[], fileTwins: readonly string[]): string {
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const section of documented) {
    const title = section.meta()?.title;
    if (!title) throw new Error(`a config section reading ${Object.keys(section.in.shape).join(', ')} has no .meta({ title })`);
    const rows: string[][] = [];
    for (const [name, field] of Object.entries<z.ZodType>(section.in.shape)) {
      if (seen.has(name)) continue;
      seen.add(name);
      const meaning = field.meta()?.description;
      if (!meaning) throw new Error(`${name} has no description: give it .describe('...') in src/config/`);
      const names = fileTwins.includes(name) ? `\`${name}\` / \`${name}_FILE\`` : `\`${name}\``;
      rows.push([names, shownDefault(field), meaning]);
    }
    parts.push([`## ${title}`, '', ...markdownTable(['Variable', 'Default', 'Meaning'], rows)].join('\n'));
  }
  return parts.join('\n\n');
}

/** `npm run docs:config`: writes docs/configuration.md from the descriptions of the config schemas. */
export const configurationFile = join(projectRoot, 'docs', 'configuration.md');

export const configurationDocument = (): string =>
  [
    '# Configuration',
    '',
    'Every setting the daemon reads at start-up.',
    '',
    'Read from the environment once at start; every bad or missing value (cron expressions included) is',
    'reported on a line of its own and the daemon exits. A variable shown with a `_FILE` twin can be read from the file',
    'that one names instead (a Docker secret); the file wins.',
    '',
    'Written by `npm run docs:config` from the descriptions of the schemas in `src/config/`; a unit test fails when this',
    'file is not what they give.',
    '',
    configurationTables(sections, secretNames),
    '',
  ].join('\n');

if (process.argv[1] === import.meta.filename) writeFileSync(configurationFile, configurationDocument());
