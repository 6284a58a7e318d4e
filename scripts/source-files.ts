import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../src/project-root.js';

/** The project's src/ folder (its TypeScript, also from a compiled test), which the lint's checks and the tests walk. */
export const srcDir = join(projectRoot, 'src');

/** Every TypeScript file under `dir`, its sub-folders' included. */
export const sourceFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
