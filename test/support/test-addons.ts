import { join } from 'node:path';
import { projectRoot } from '../../src/project-root.js';
import { realOdooImage, run } from './real-odoo.js';

/**
 * The real Odoo server of `version` with the test modules of test/images/odoo-test-addons in its extra addons path
 * (probe_good installs, probe_broken fails to), built on it with the classic builder (a few seconds once cached): no
 * registry is reachable, and BuildKit would look for the base image in one.
 */
export async function testAddonsImage(version: string): Promise<string> {
  const tag = `local/odoo-test-addons:${version}`;
  process.env.DOCKER_BUILDKIT = '0';
  const context = join(projectRoot, 'test/images/odoo-test-addons');
  await run('docker', ['build', '-q', '-t', tag, '--build-arg', `ODOO_IMAGE=${realOdooImage(version)}`, context]);
  return tag;
}
