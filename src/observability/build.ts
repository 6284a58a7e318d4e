import { readFileSync } from 'node:fs';

/** The version in package.json, found from this module whether it runs as TypeScript (src/) or compiled (dist/src/). */
function readPackageVersion(): string {
  for (const candidate of ['../../package.json', '../../../package.json']) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'odoo-orchestrator' && manifest.version) return manifest.version;
    } catch {
      // Not at this depth: try the next one.
    }
  }
  return 'unknown';
}

export const packageVersion = readPackageVersion();
