import type { InstanceRow } from '../../db/schema.js';
import type { ModuleChangeKind } from '../../swarm/odoo-module-job.js';
import { validationFailed } from '../../errors.js';
import { withTenantDatabase } from '../instances/tenant-database.js';
import type { LoginDeps } from '../instances/tenant-login.js';

/** An Odoo module's technical name: its directory's, a Python package's. */
const MODULE_NAME = /^[a-z0-9][a-z0-9_]{0,63}$/;
const MAX_MODULES = 50;

/** Pure: the names asked for, checked and without repeats, in the order given. */
export function parseModuleNames(modules: readonly string[]): string[] {
  if (modules.length === 0) throw validationFailed('modules', 'must name at least one module');
  if (modules.length > MAX_MODULES) throw validationFailed('modules', `must name at most ${MAX_MODULES} modules`);
  const bad = modules.find((name) => !MODULE_NAME.test(name));
  if (bad !== undefined)
    throw validationFailed('modules', `"${bad.slice(0, 80)}" is not a module name (lowercase letters, digits and _, at most 64)`);
  return [...new Set(modules)];
}

/** A module as the tenant's Odoo lists it in `ir_module_module`. */
export interface ListedModule {
  name: string;
  state: string;
}

/**
 * Pure: refuses names the change cannot apply to. Odoo lists every module of the image's addons paths in
 * `ir_module_module` (at initialisation and at each `-i`/`-u`), `uninstallable` when its manifest says so: an install
 * takes a listed module that can be installed, an update one that is installed.
 */
export function checkModules(kind: ModuleChangeKind, names: readonly string[], listed: readonly ListedModule[]): void {
  const state = new Map(listed.map((module) => [module.name, module.state]));
  const refused =
    kind === 'install'
      ? names.filter((name) => !state.has(name) || state.get(name) === 'uninstallable')
      : names.filter((name) => state.get(name) !== 'installed');
  if (refused.length === 0) return;
  throw validationFailed(
    'modules',
    kind === 'install'
      ? `not among the installable modules of the instance's Odoo image: ${refused.join(', ')}`
      : `not installed on the instance: ${refused.join(', ')}`,
  );
}

/** The tenant's own list of the named modules, read in its database. */
export const listedModules = (deps: LoginDeps, instance: Pick<InstanceRow, 'id' | 'db_server_id'>, names: readonly string[]) =>
  withTenantDatabase(
    deps,
    instance,
    async (client) => (await client.query<ListedModule>('select name, state from ir_module_module where name = any($1)', [names])).rows,
  );

/** What is installed in the tenant's database, by name. */
export const installedModules = (deps: LoginDeps, instance: Pick<InstanceRow, 'id' | 'db_server_id'>): Promise<string[]> =>
  withTenantDatabase(deps, instance, async (client) =>
    (await client.query<{ name: string }>("select name from ir_module_module where state = 'installed' order by name")).rows.map(
      (row) => row.name,
    ),
  );
