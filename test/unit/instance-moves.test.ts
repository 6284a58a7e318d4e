import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { instanceStatuses, type InstanceStatus } from '../../src/db/schema.js';
import type { Deps } from '../../src/deps.js';
import type { Executor } from '../../src/db/transaction.js';
import { moveInstance } from '../../src/domain/instances/instance-events.js';
import { instanceMoves, instanceTransitions, type InstanceMove } from '../../src/domain/instances/instance-status.js';
import { sourceFiles, srcDir as src } from '../../scripts/source-files.js';

const moves = Object.keys(instanceMoves) as InstanceMove[];

/**
 * The moves the code makes: a name given to `moveInstance`, given as a `move:` (a change that makes it later), or
 * mapped to in `followMoves` (the reconciler's, by what the tasks show).
 */
function movesMade(): Map<string, string[]> {
  const made = new Map<string, string[]>();
  const note = (name: string, where: string) => made.set(name, [...(made.get(name) ?? []), where]);
  for (const file of sourceFiles(src)) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node, inFollowMoves: boolean) => {
      if (ts.isCallExpression(node) && node.expression.getText(source) === 'moveInstance') {
        const move = node.arguments[3];
        if (move && ts.isStringLiteral(move)) note(move.text, file);
      }
      if (ts.isPropertyAssignment(node) && ts.isStringLiteral(node.initializer)) {
        if (node.name.getText(source) === 'move' || inFollowMoves) note(node.initializer.text, file);
      }
      const entering = ts.isVariableDeclaration(node) && node.name.getText(source) === 'followMoves';
      ts.forEachChild(node, (child) => visit(child, inFollowMoves || entering));
    };
    visit(source, false);
  }
  return made;
}

describe('instance moves', () => {
  it('has a caller for every declared move, and no caller of a move that is not declared', () => {
    const made = movesMade();
    for (const move of moves) assert.ok(made.has(move), `no code makes the move ${move}`);
    for (const name of made.keys()) assert.ok(moves.includes(name as InstanceMove), `${name} is made but not declared`);
  });

  it('refuses a move from a status it does not leave, before writing anything', async () => {
    const deps = { events: { publish: () => assert.fail('nothing is published') } } as unknown as Pick<Deps, 'events'>;
    const untouched = new Proxy({}, { get: () => assert.fail('the database is not touched') }) as Executor;
    const trigger = { cause: 'test', actor: 'admin' };
    for (const move of moves)
      for (const status of instanceStatuses.filter((status) => !(instanceMoves[move].from as readonly InstanceStatus[]).includes(status)))
        await assert.rejects(
          moveInstance(deps, untouched, { id: 'x', status }, move, trigger),
          new RegExp(`illegal move ${move} from ${status}`),
        );
  });

  it('draws a transition table in which every status is reached from CREATING and every one but TERMINATED has a way on', () => {
    const reached = new Set<InstanceStatus>(['CREATING']);
    for (let grown = true; grown;) {
      grown = false;
      for (const from of [...reached])
        for (const to of instanceTransitions[from]) if (!reached.has(to)) grown = reached.add(to) !== undefined;
    }
    assert.deepEqual([...reached].sort(), [...instanceStatuses].sort());
    for (const status of instanceStatuses) assert.equal(instanceTransitions[status].length === 0, status === 'TERMINATED', status);
  });

  it('lets every live status be terminated, and a terminating one only end', () => {
    for (const status of instanceStatuses.filter((status) => status !== 'TERMINATING' && status !== 'TERMINATED'))
      assert.ok(instanceTransitions[status].includes('TERMINATING'), status);
    assert.deepEqual(instanceTransitions.TERMINATING, ['TERMINATED']);
  });
});
