import { join } from 'node:path';
import { projectRoot } from '../../src/project-root.js';
import { realOdooImage, run } from './real-odoo.js';

/** `docker build` with the classic builder: no registry is reachable, and BuildKit would look for the base image in one. */
const build = (args: string[], dockerfile = ''): Promise<string> => {
  process.env.DOCKER_BUILDKIT = '0';
  return run('docker', ['build', '-q', ...args], dockerfile);
};

/**
 * The real Odoo server of `version` with the test modules of test/images/odoo-test-addons in its extra addons path
 * (probe_good installs, probe_broken fails to), built on it (a few seconds once cached).
 */
export async function testAddonsImage(version: string): Promise<string> {
  const tag = `local/odoo-test-addons:${version}`;
  await build(['-t', tag, '--build-arg', `ODOO_IMAGE=${realOdooImage(version)}`, join(projectRoot, 'test/images/odoo-test-addons')]);
  return tag;
}

/**
 * A good new build of testAddonsImage(version): the same files, only a label more, so its image id differs (what a
 * rebuilt release of the same code looks like to the daemon). Built from a Dockerfile on stdin, with no context.
 */
export async function nextTestAddonsImage(version: string): Promise<string> {
  const tag = `local/odoo-test-addons-next:${version}`;
  const dockerfile = 'ARG TEST_ADDONS_IMAGE\nFROM ${TEST_ADDONS_IMAGE}\nLABEL com.example.odoo-test.build="next"\n';
  await build(['-t', tag, '--build-arg', `TEST_ADDONS_IMAGE=${await testAddonsImage(version)}`, '-'], dockerfile);
  return tag;
}

/**
 * A broken new build of testAddonsImage(version) (test/images/odoo-test-addons-broken): probe_good 1.1 renames the
 * customers at `@rollout.example`, then its end migration reads a model that does not exist, so `odoo -u all` on a
 * database with probe_good installed fails with the customers renamed.
 */
export async function brokenTestAddonsImage(version: string): Promise<string> {
  const tag = `local/odoo-test-addons-broken:${version}`;
  const context = join(projectRoot, 'test/images/odoo-test-addons-broken');
  await build(['-t', tag, '--build-arg', `TEST_ADDONS_IMAGE=${await testAddonsImage(version)}`, context]);
  return tag;
}
