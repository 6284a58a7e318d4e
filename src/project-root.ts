import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'odoo-orchestrator';

/**
 * The directory holding the project's package.json, found upwards from this module, which runs as TypeScript
 * (src/), compiled into the image (dist/src/), or compiled for the tests (.local/build/src/).
 */
function findProjectRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return dir;
    if (dirname(dir) === dir) throw new Error(`No package.json of ${PACKAGE_NAME} in ${start} or above it.`);
  }
}

export const projectRoot = findProjectRoot();

/** The project's package.json. */
export const projectManifest = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { name: string; version: string };
