import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'odoo-orchestrator';

interface Manifest {
  name?: string;
  version: string;
}

/**
 * The directory holding the project's package.json, and that file, found upwards from this module, which runs as
 * TypeScript (src/), compiled into the image (dist/src/), or compiled for the tests (.local/build/src/).
 */
function findProject(): { root: string; manifest: Manifest } {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    const manifest = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Manifest) : null;
    if (manifest?.name === PACKAGE_NAME) return { root: dir, manifest };
    if (dirname(dir) === dir) throw new Error(`No package.json of ${PACKAGE_NAME} in ${start} or above it.`);
  }
}

const project = findProject();

export const projectRoot = project.root;

/** The project's package.json. */
export const projectManifest = project.manifest;
