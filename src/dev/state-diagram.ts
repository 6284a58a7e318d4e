import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { instancePolicy } from '../domain/instances/instance-policy.js';
import { instanceTransitions } from '../domain/instances/instance-status.js';
import { projectRoot } from '../project-root.js';
import { markdownTable } from './markdown-table.js';

/**
 * Pure: a Mermaid state diagram of a transition table, one edge per allowed move, in the table's order; `first` is
 * where every instance starts, and a status with no way out ends.
 */
export function mermaidStateDiagram(transitions: Readonly<Record<string, readonly string[]>>, first: string): string {
  const lines = ['stateDiagram-v2', `  [*] --> ${first}`];
  for (const [from, targets] of Object.entries(transitions)) {
    for (const to of targets) lines.push(`  ${from} --> ${to}`);
    if (targets.length === 0) lines.push(`  ${from} --> [*]`);
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
    'Drawn from `instanceTransitions` in `src/domain/instances/instance-status.ts`, the table every status change is checked against',
    '(`moveInstance` refuses any other move). Written by `npm run docs:states`; a unit test fails when this file and the',
    'table differ. What each status means: [API](api.md); who moves an instance and when: [Architecture](architecture.md).',
    '',
    '```mermaid',
    mermaidStateDiagram(instanceTransitions, 'CREATING'),
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
