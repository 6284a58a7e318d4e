import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkModules, parseModuleNames } from '../../src/domain/modules/tenant-modules.js';
import { DomainError } from '../../src/errors.js';
import { labelKeys } from '../../src/swarm/labels.js';
import { odooInitJobSpec } from '../../src/swarm/odoo-init-job.js';
import { moduleJobArgs, moduleJobName, odooModuleJobSpec } from '../../src/swarm/odoo-module-job.js';
import { odooNeutralizeJobSpec } from '../../src/swarm/odoo-neutralize-job.js';
import { odooRuntimeFixture } from './odoo-runtime-fixture.js';

const refusal = (work: () => unknown): string => {
  try {
    work();
  } catch (error) {
    assert.ok(error instanceof DomainError);
    assert.equal(error.code, 'VALIDATION_FAILED');
    return error.message;
  }
  assert.fail('not refused');
};

describe('parseModuleNames', () => {
  it('keeps technical names in the order given, without repeats', () => {
    assert.deepEqual(parseModuleNames(['contacts', 'mail', 'contacts', 'l10n_be']), ['contacts', 'mail', 'l10n_be']);
  });

  it('refuses an empty list, too many names, and anything that is not a module name (no option reaches Odoo)', () => {
    assert.equal(
      refusal(() => parseModuleNames([])),
      'modules: must name at least one module',
    );
    assert.match(
      refusal(() => parseModuleNames(Array.from({ length: 51 }, (_, i) => `m${i}`))),
      /at most 50 modules/,
    );
    for (const bad of ['--addons-path=/tmp', 'a,b', 'Sale', 'sale mail', '', '_x', 'a'.repeat(65), 'base;drop'])
      assert.match(
        refusal(() => parseModuleNames(['mail', bad])),
        /^modules: ".*" is not a module name/,
      );
  });
});

describe('checkModules', () => {
  const listed = [
    { name: 'base', state: 'installed' },
    { name: 'contacts', state: 'uninstalled' },
    { name: 'sale', state: 'uninstallable' },
    { name: 'mail', state: 'installed' },
  ];

  it('installs modules the image lists as installable (installed ones too: -i on them is an update)', () => {
    checkModules('install', ['contacts', 'mail'], listed);
    assert.equal(
      refusal(() => checkModules('install', ['contacts', 'sale', 'nope'], listed)),
      "modules: not among the installable modules of the instance's Odoo image: sale, nope",
    );
  });

  it('updates installed modules only', () => {
    checkModules('update', ['base', 'mail'], listed);
    assert.equal(
      refusal(() => checkModules('update', ['mail', 'contacts'], listed)),
      'modules: not installed on the instance: contacts',
    );
  });
});

/** A tenant's Odoo runtime, as the daemon builds its jobs from it. */
const input = odooRuntimeFixture();

describe('odooModuleJobSpec', () => {
  const changeId = '0b6f3c1e-2d4a-4b8e-9c7d-5e6f7a8b9c0d';
  const job = odooModuleJobSpec(input, changeId, 'update', ['mail', 'contacts']);
  const init = odooInitJobSpec(input);

  it('runs odoo -i or -u on the named modules with --stop-after-init, once: a failed run is rolled back, never run again', () => {
    assert.deepEqual(moduleJobArgs('install', ['contacts']), ['-i', 'contacts', '--without-demo', 'all', '--stop-after-init']);
    assert.deepEqual(moduleJobArgs('update', ['mail', 'contacts']), ['-u', 'mail,contacts', '--stop-after-init']);
    const args = job.TaskTemplate.ContainerSpec.Args!;
    assert.deepEqual(args.slice(-3), ['-u', 'mail,contacts', '--stop-after-init']);
    assert.deepEqual(job.Mode, { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } });
    assert.deepEqual(job.TaskTemplate.RestartPolicy, { Condition: 'none', Delay: 0, MaxAttempts: 0 });
  });

  it("is named after its change's row and labelled `modules`, with the init job's image, secret, data dir, limits and network", () => {
    assert.equal(job.Name, moduleJobName(changeId));
    assert.equal(job.Name, `mc-${changeId}`);
    assert.equal(job.Labels[labelKeys.role], 'modules');
    assert.equal(job.Labels[labelKeys.instanceId], input.instance.id);
    const { Args: _jobArgs, Labels: _jobLabels, ...container } = job.TaskTemplate.ContainerSpec;
    const { Args: _initArgs, Labels: _initLabels, ...initContainer } = init.TaskTemplate.ContainerSpec;
    assert.deepEqual(container, initContainer);
    assert.deepEqual(job.TaskTemplate.Resources, init.TaskTemplate.Resources);
    assert.deepEqual(job.TaskTemplate.Networks, init.TaskTemplate.Networks);
  });
});

describe('odooNeutralizeJobSpec', () => {
  const job = odooNeutralizeJobSpec(input);
  const init = odooInitJobSpec(input);

  it("runs `odoo neutralize` on the config file's database (the subcommand first), once, in the init job's place", () => {
    assert.deepEqual(job.TaskTemplate.ContainerSpec.Args, ['odoo', 'neutralize', '-c', '/run/secrets/odoo.conf']);
    assert.deepEqual(job.TaskTemplate.ContainerSpec.Command, init.TaskTemplate.ContainerSpec.Command, 'waits for the database first');
    assert.deepEqual(job.TaskTemplate.RestartPolicy, { Condition: 'none', Delay: 0, MaxAttempts: 0 });
    assert.equal(job.Name, init.Name);
    assert.equal(job.Labels[labelKeys.role], 'init');
    assert.deepEqual(job.TaskTemplate.ContainerSpec.Mounts, init.TaskTemplate.ContainerSpec.Mounts);
    assert.deepEqual(job.TaskTemplate.ContainerSpec.Secrets, init.TaskTemplate.ContainerSpec.Secrets);
  });
});
