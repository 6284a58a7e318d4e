import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { instancePolicy } from '../domain/instances/instance-policy.js';
import { instanceStatuses } from '../db/schema.js';
import { instanceMoves } from '../domain/instances/instance-status.js';
import { projectRoot } from '../project-root.js';
import { markdownTable } from './markdown-table.js';

/**
 * Pure: a Mermaid state diagram of named moves over `statuses`, one edge per pair of statuses labelled with the moves
 * that make it, in the order of the statuses then of the moves; `first` is where every instance starts, and a status
 * no move leaves ends.
 */
export function mermaidStateDiagram(
  statuses: readonly string[],
  moves: Readonly<Record<string, { from: readonly string[]; to: string }>>,
  first: string,
): string {
  const lines = ['stateDiagram-v2', `  [*] --> ${first}`];
  for (const from of statuses) {
    const leaving = Object.entries(moves).filter(([, move]) => move.from.includes(from));
    for (const to of statuses) {
      const names = leaving.filter(([, move]) => move.to === to).map(([name]) => name);
      if (names.length > 0) lines.push(`  ${from} --> ${to} : ${names.join(', ')}`);
    }
    if (leaving.length === 0) lines.push(`  ${from} --> [*]`);
  }
  return lines.join('\n');
}

/** Pure: a Markdown table of each rule and the statuses it holds for, in the policy's order. */
export const policyTable = (policy: Readonly<Record<string, readonly string[]>>): string =>
  markdownTable(
    ['rule', 'statuses'],
    Object.entries(policy).map(([rule, statuses]) => [`\`${rule}\``, statuses.join(', ')]),
  ).join('\n');

/** `npm run docs:states`: writes docs/states.md from the transition table the daemon checks every move against. */
export const statesFile = join(projectRoot, 'docs', 'states.md');

export const statesDocument = (): string =>
  [
    '# Instance states',
    '',
    'Drawn from `instanceMoves` in `src/domain/instances/instance-status.ts`: every move an instance can make, by name, from',
    'the statuses it leaves to the one it reaches (`moveInstance` takes a move by name and refuses it from any other status;',
    'a unit test checks every move has a caller). Each edge is labelled with the moves that make it. Written by',
    '`npm run docs:states`; a unit test fails when this file and the moves differ. What each status means: [API](api.md);',
    'who moves an instance and when: [Architecture](architecture.md).',
    '',
    '```mermaid',
    mermaidStateDiagram(instanceStatuses, instanceMoves, 'CREATING'),
    '```',
    '',
    '## Which statuses each rule holds for',
    '',
    'From `instancePolicy` in `src/domain/instances/instance-policy.ts`: the one table the domain, billing, the jobs and',
    'their SQL read (`allows(rule, status)`, `statusesWhere(rule)`); each rule says there what it is for.',
    '',
    policyTable(instancePolicy),
    '',
  ].join('\n');

if (process.argv[1] === import.meta.filename) writeFileSync(statesFile, statesDocument());
