import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { nextRolloutStep, planRollout, type TenantProgress } from '../../src/domain/modules/rollout-plan.js';
import { labelKeys } from '../../src/swarm/labels.js';
import { checkJobName, LOGIN_CHECK_SCRIPT, odooLoginCheckJobSpec } from '../../src/swarm/odoo-check-job.js';
import { moduleJobArgs } from '../../src/swarm/odoo-module-job.js';
import { odooRuntimeFixture } from './odoo-runtime-fixture.js';

const day = (n: number) => new Date(Date.UTC(2026, 0, n));

describe('planRollout', () => {
  it('takes staging copies first, then the oldest tenants; pinned ones come last, passed by', () => {
    const plan = planRollout([
      { id: 'young', createdAt: day(5), stagingOf: null, pinnedImage: null },
      { id: 'pinned', createdAt: day(1), stagingOf: null, pinnedImage: 'odoo:17.0-old' },
      { id: 'old', createdAt: day(2), stagingOf: null, pinnedImage: null },
      { id: 'copy', createdAt: day(9), stagingOf: 'old', pinnedImage: null },
    ]);
    assert.deepEqual(
      plan.map((tenant) => [tenant.instanceId, tenant.position, tenant.status, tenant.error]),
      [
        ['copy', 0, 'PENDING', null],
        ['old', 1, 'PENDING', null],
        ['young', 2, 'PENDING', null],
        ['pinned', 3, 'SKIPPED', 'pinned to odoo:17.0-old'],
      ],
    );
  });
});

describe('nextRolloutStep', () => {
  const tenants = (...statuses: TenantProgress['status'][]): TenantProgress[] =>
    statuses.map((status, position) => ({ instanceId: `i${position}`, position, status }));

  it('starts the next batch of pending tenants once none is under way, in order', () => {
    const step = nextRolloutStep(tenants('COMPLETED', 'SKIPPED', 'PENDING', 'PENDING', 'PENDING'), 2);
    assert.equal(step.kind, 'start');
    assert.deepEqual(step.kind === 'start' && step.tenants.map((tenant) => tenant.instanceId), ['i2', 'i3']);
  });

  it('waits while a batch is under way (a failure in it too), then stops at the failure, and completes when none is pending', () => {
    assert.deepEqual(nextRolloutStep(tenants('COMPLETED', 'UPDATING', 'PENDING'), 2), { kind: 'wait' });
    assert.deepEqual(nextRolloutStep(tenants('COMPLETED', 'FAILED', 'UPDATING', 'PENDING'), 2), { kind: 'wait' });
    const failed = nextRolloutStep(tenants('COMPLETED', 'FAILED', 'COMPLETED', 'PENDING', 'PENDING'), 3);
    assert.equal(failed.kind, 'failed');
    assert.deepEqual(failed.kind === 'failed' && [failed.failed.instanceId, failed.notReached], ['i1', 2]);
    assert.deepEqual(nextRolloutStep(tenants('COMPLETED', 'SKIPPED'), 1), { kind: 'completed' });
    assert.deepEqual(nextRolloutStep([], 1), { kind: 'completed' });
  });
});

describe('a rollout job and its check', () => {
  const input = odooRuntimeFixture('odoo:17.0-new');

  it('updates every module with -u all', () => {
    assert.deepEqual(moduleJobArgs('rollout', ['all']), ['-u', 'all', '--stop-after-init']);
  });

  it('checks the login page from the new image, on the network, once, with no secret, data or alias', () => {
    const changeId = '0b6f3c1e-2d4a-4b8e-9c7d-5e6f7a8b9c0d';
    const job = odooLoginCheckJobSpec(input, changeId);
    const task = job.TaskTemplate;
    assert.equal(job.Name, checkJobName(changeId));
    assert.equal(job.Labels?.[labelKeys.role], 'check');
    assert.equal(task.ContainerSpec?.Image, 'odoo:17.0-new');
    assert.deepEqual(task.ContainerSpec?.Command, [
      'sh',
      '-c',
      LOGIN_CHECK_SCRIPT,
      'login-check',
      'http://odoo-acme-3f1c2a9e:8069/web/login',
    ]);
    assert.equal(task.ContainerSpec?.Secrets, undefined);
    assert.equal(task.ContainerSpec?.Mounts, undefined);
    assert.deepEqual(task.Networks, [{ Target: 'odoo-net' }]);
    assert.deepEqual(task.RestartPolicy, { Condition: 'none', Delay: 0, MaxAttempts: 0 });
  });

  it('passes with a login form, fails on an error page or a page without one', async () => {
    const pages: Record<string, [number, string]> = {
      '/ok': [200, '<form action="/web/login"><input name="login"/></form>'],
      '/error': [500, 'Internal Server Error'],
      '/other': [200, '<html>maintenance</html>'],
    };
    const server: Server = createServer((request, response) => {
      const [status, body] = pages[request.url ?? ''] ?? [404, ''];
      response.writeHead(status).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const check = (path: string) =>
      promisify(execFile)('sh', ['-c', LOGIN_CHECK_SCRIPT.replace('--retry 5', '--retry 0'), 'login-check', `${base}${path}`]).then(
        () => 'pass',
        () => 'fail',
      );
    try {
      assert.deepEqual(await Promise.all(['/ok', '/error', '/other'].map(check)), ['pass', 'fail', 'fail']);
    } finally {
      server.close();
    }
  });
});
