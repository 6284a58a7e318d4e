/**
 * The lint's check that instance rows have one owner: every statement that writes the `instances` table is made in
 * src/domain/instances/instance-events.ts (`moveInstance`, `patchInstance`) or inside the write a caller hands to
 * `writeWithEvent`/`writeWithEventAnd` there (which records its event in the same statement). Raw SQL that writes
 * the table is allowed only where RAW_WRITERS says why. Prints each stray write on a line and exits 1 when there is
 * any. `tsx scripts/check-instance-writes.ts`.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import ts from 'typescript';
import { sourceFiles, srcDir as src } from './source-files.js';

const OWNER = 'domain/instances/instance-events.ts';
const WRITE_METHODS = new Set(['updateTable', 'insertInto', 'deleteFrom']);
const HANDED_TO = new Set(['writeWithEvent', 'writeWithEventAnd']);
const RAW_WRITE = /\b(update|insert\s+into|delete\s+from)\s+instances\b/i;

/** Files whose raw SQL writes the table, and why it cannot be a write handed to the owner. */
const RAW_WRITERS: Record<string, string> = {
  'domain/allocation/slot-reservation.ts':
    "one statement counts a slot on a pool and records the instance's claim on it, so a slot is never counted twice or lost",
};

const calleeName = (call: ts.CallExpression): string | null => {
  const callee = call.expression;
  if (ts.isIdentifier(callee)) return callee.text;
  if (ts.isPropertyAccessExpression(callee)) return callee.name.text;
  return null;
};

/** Whether `node` sits in an argument of a call to writeWithEvent or writeWithEventAnd. */
function handedToOwner(node: ts.Node): boolean {
  for (let parent = node.parent; parent; parent = parent.parent) {
    if (ts.isCallExpression(parent) && HANDED_TO.has(calleeName(parent) ?? '')) return true;
  }
  return false;
}

function strayWrites(file: string): string[] {
  const name = relative(src, file);
  if (name === OWNER) return [];
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const where = (node: ts.Node) => `src/${name}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node) && WRITE_METHODS.has(calleeName(node) ?? '')) {
      const [table] = node.arguments;
      if (table && ts.isStringLiteral(table) && table.text === 'instances' && !handedToOwner(node))
        found.push(`${where(node)} writes instances itself: use patchInstance or moveInstance (${OWNER})`);
    }
    if (ts.isTaggedTemplateExpression(node) && RAW_WRITE.test(node.template.getText(source)) && !(name in RAW_WRITERS))
      found.push(`${where(node)} writes instances in raw SQL: use patchInstance or moveInstance (${OWNER})`);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const problems = sourceFiles(src).flatMap(strayWrites);
for (const problem of problems) console.error(problem);
process.exit(problems.length > 0 ? 1 : 0);
