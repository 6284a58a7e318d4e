import { readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** The project's src/ folder, which the lint's checks and the tests that read the code walk. */
export const srcDir = join(resolve(dirname(new URL(import.meta.url).pathname), '..'), 'src');

/** Every TypeScript file under `dir`, its sub-folders' included. */
export const sourceFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
