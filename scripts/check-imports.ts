/**
 * The lint's import graph check, over every file of src/ and every import it makes (type imports, re-exports and
 * dynamic imports included, which the eslint rule it replaces did not see):
 * - no cycles;
 * - a layer imports only from its own layer and those below it (LAYERS, top to bottom);
 * - only the modules that talk to Docker import dockerode, and the rules (domain/, billing/) and the API (schema/, http/)
 *   call no dockerode handle's method: they pass the handle to src/swarm/'s functions.
 * Prints each violation on a line of its own and exits 1 when there is any. `tsx scripts/check-imports.ts`.
 */
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import ts from 'typescript';
import { sourceFiles, srcDir as src } from './source-files.js';

/**
 * Top to bottom. A module is placed by its folder under src/ (or its name, for a file directly in src/): every file under
 * src/domain/, its sub-folders' too, is in `domain`. Modules of one row may import each other unless `apart` says otherwise.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['main', 'daemon', 'http', 'dev'],
  ['schema', 'jobs'],
  ['billing'],
  ['domain', 'deps', 'observability', 'access'],
  ['swarm', 'storage', 'killbill', 's3', 'archive', 'docker'],
  ['db', 'events'],
  ['crypto'],
];

/** Pairs in one row that stay apart: GraphQL and the scheduler are two entries into the domain, not one. */
const APART: readonly (readonly [string, string])[] = [['schema', 'jobs']];

/** Imported from anywhere; they import only each other. */
const SHARED = new Set(['config', 'errors', 'logger', 'issues', 'project-root']);

/** The only modules that may import dockerode: the Swarm layer, the client factory, and the handles' type. */
const DOCKER_IMPORTERS = [/^swarm\//, /^docker\.ts$/, /^deps\.ts$/];
/** Modules that reach Docker only through src/swarm/'s functions, and the shape of a direct call on a handle. */
const THROUGH_SWARM = [/^domain\//, /^billing\//, /^schema\//, /^http\//];
const DOCKER_CALL = /\bdocker\s*\.\s*([A-Za-z]+)\s*\(/g;

/** The module a file belongs to: its folder under src/, or its own name. */
const moduleOf = (file: string): string => {
  const parts = relative(src, file).split('/');
  return parts.length > 1 ? parts[0]! : parts[0]!.replace(/\.ts$/, '');
};

const rowOf = new Map(LAYERS.flatMap((row, index) => row.map((module) => [module, index] as const)));

/** Why `from` may not import `to`, or null when it may. */
function layerViolation(from: string, to: string): string | null {
  if (from === to || SHARED.has(to)) return null;
  if (SHARED.has(from)) return `${from} is shared by every layer: it imports only ${[...SHARED].join(', ')}`;
  const fromRow = rowOf.get(from);
  const toRow = rowOf.get(to);
  if (fromRow === undefined) return `${from} has no place in scripts/check-imports.ts's LAYERS`;
  if (toRow === undefined) return `${to} has no place in scripts/check-imports.ts's LAYERS`;
  if (toRow < fromRow) return `${from} sits below ${to}: move what it needs down a layer, or pass it in`;
  if (toRow === fromRow && APART.some((pair) => pair.includes(from) && pair.includes(to))) return `${from} and ${to} stay apart`;
  return null;
}

interface Imports {
  files: string[];
  packages: string[];
}

function importsOf(file: string, known: Set<string>): Imports {
  const found = ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((entry) => entry.fileName);
  const files = found
    .filter((name) => name.startsWith('.'))
    .map((name) => resolve(dirname(file), name.replace(/\.js$/, '.ts')))
    .filter((path) => known.has(path));
  return { files, packages: found.filter((name) => !name.startsWith('.') && !name.startsWith('node:')) };
}

/** Tarjan's strongly connected components of more than one file: each is a cycle (or several). */
function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (node: string) => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1) components.push(component);
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return components;
}

const files = sourceFiles(src);
const known = new Set(files);
const graph = new Map<string, string[]>();
const problems: string[] = [];
for (const file of files) {
  const name = relative(src, file);
  const { files: imported, packages } = importsOf(file, known);
  graph.set(file, imported);
  for (const target of imported) {
    const why = layerViolation(moduleOf(file), moduleOf(target));
    if (why) problems.push(`src/${name} imports src/${relative(src, target)}: ${why}`);
  }
  if (packages.includes('dockerode') && !DOCKER_IMPORTERS.some((allowed) => allowed.test(name))) {
    problems.push(`src/${name} imports dockerode: Docker is reached through src/swarm/`);
  }
  if (THROUGH_SWARM.some((layer) => layer.test(name))) {
    for (const call of readFileSync(file, 'utf8').matchAll(DOCKER_CALL))
      problems.push(`src/${name} calls docker.${call[1]}() itself: Docker is reached through src/swarm/'s functions`);
  }
}
for (const component of cycles(graph)) {
  problems.push(
    `import cycle: ${component
      .map((file) => `src/${relative(src, file)}`)
      .sort()
      .join(', ')}`,
  );
}

for (const problem of problems) console.error(problem);
process.exit(problems.length > 0 ? 1 : 0);
