import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Docker from 'dockerode';
import { eventually } from './support/eventually.js';
import { odooServiceName } from '../src/domain/names.js';
import { ensureDirUnder } from '../src/storage/dirs.js';
import { instanceDataDir } from '../src/storage/layout.js';
import type { SwarmSecret } from '../src/swarm/docker-types.js';
import { labelFilters, labelKeys, managedLabels, testRunLabels } from '../src/swarm/labels.js';
import { odooServiceSpec } from '../src/swarm/odoo-service.js';
import { odooSpec } from '../src/swarm/odoo-config.js';
import {
  createService,
  ensureSecret,
  findServiceByName,
  hasStatusCode,
  listServices,
  listTasks,
  removeSecret,
  removeService,
} from '../src/swarm/swarm.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const STANDIN_IMAGE = 'local/odoo-standin:17.0';
const testRun = `swarm-adapter-${randomUUID().slice(0, 8)}`;
const runLabels = testRunLabels(testRun);
const secretLabels = managedLabels(runLabels);

async function imageExists(name: string): Promise<boolean> {
  try {
    await docker.getImage(name).inspect();
    return true;
  } catch (error) {
    if (hasStatusCode(error, 404)) return false;
    throw error;
  }
}

const listRunSecrets = async (): Promise<SwarmSecret[]> =>
  (await docker.listSecrets({ filters: labelFilters(runLabels) })) as unknown as SwarmSecret[];

async function removeEverythingOfThisRun(): Promise<void> {
  for (const service of await listServices(docker, runLabels)) await removeService(docker, service.ID);
  for (const secret of await listRunSecrets()) await removeSecret(docker, secret.ID);
}

describe('swarm adapter against the local Docker daemon', () => {
  let dataRoot: string | undefined;

  after(async () => {
    await removeEverythingOfThisRun();
    if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
  });

  it('ensureSecret creates a secret once, then returns it untouched', async () => {
    const name = `${testRun}-once`;
    const first = await ensureSecret(docker, name, 'first-value', secretLabels);
    const second = await ensureSecret(docker, name, 'second-value', secretLabels);
    assert.equal(first.created, true);
    assert.equal(second.created, false);
    assert.equal(second.id, first.id);
    assert.equal(second.name, name);
  });

  it('concurrent ensureSecret calls for a new name make one secret', async () => {
    const name = `${testRun}-race`;
    const results = await Promise.all([1, 2, 3].map(() => ensureSecret(docker, name, 'value', secretLabels)));
    assert.equal(new Set(results.map((result) => result.id)).size, 1);
    assert.equal(results.filter((result) => result.created).length, 1);
    const named = (await listRunSecrets()).filter((secret) => secret.Spec.Name === name);
    assert.equal(named.length, 1);
  });

  it('createService twice makes one service, and listTasks finds its task by instance label', async (t) => {
    if (!(await imageExists(STANDIN_IMAGE))) {
      t.skip(`${STANDIN_IMAGE} is not built here (scripts/env/images.sh builds it)`);
      return;
    }
    const instanceId = randomUUID();
    const serviceName = odooServiceName({ id: instanceId, subdomain: testRun });
    dataRoot = await mkdtemp(join(tmpdir(), 'swarm-adapter-'));
    await ensureDirUnder(dataRoot, instanceDataDir(dataRoot, instanceId), 101, 101);
    assert.equal((await stat(instanceDataDir(dataRoot, instanceId))).uid, 101);

    const secret = await ensureSecret(docker, `${testRun}-db-password`, 'not-a-real-password', secretLabels);
    const spec = odooServiceSpec({
      instance: { id: instanceId, subdomain: testRun },
      spec: odooSpec({ version: '17.0', image: STANDIN_IMAGE, cpuLimit: 0.5, memoryLimitMb: 512, env: [] }),
      serviceName,
      network: 'odoo-net',
      baseDomain: 'localhost',
      tls: { mode: 'per-host', certResolver: 'letsencrypt' },
      cephfsRoot: dataRoot,
      configSecret: { id: secret.id, name: secret.name },
      restartMaxAttempts: 0,
      restartDelaySeconds: 5,
      healthIntervalSeconds: 5,
      healthStartSeconds: 60,
      stopGraceSeconds: 10,
      odooUid: 101,
      extraLabels: runLabels,
    });

    const [first, second] = [await createService(docker, spec), await createService(docker, spec)];
    assert.equal(second, first);
    assert.deepEqual(
      (await listServices(docker, runLabels)).map((service) => service.ID),
      [first],
    );
    assert.equal((await findServiceByName(docker, serviceName))?.ID, first);
    assert.equal(await findServiceByName(docker, serviceName.slice(0, -1)), undefined, 'a name prefix is not a match');

    const tasks = await eventually(
      () => listTasks(docker, { [labelKeys.instanceId]: instanceId }),
      (found) => found.length > 0,
      15_000,
    );
    assert.ok(tasks.length > 0, 'the service has a task');
    assert.ok(tasks.every((task) => task.ServiceID === first));
    assert.deepEqual(await listTasks(docker, { [labelKeys.instanceId]: randomUUID() }), []);
  });

  it('cleanup removes everything the run created, and removing twice is fine', async () => {
    const services = await listServices(docker, runLabels);
    const secrets = await listRunSecrets();
    await removeEverythingOfThisRun();
    for (const service of services) await removeService(docker, service.ID);
    for (const secret of secrets) await removeSecret(docker, secret.ID);
    assert.deepEqual(await listServices(docker, runLabels), []);
    assert.deepEqual(await listRunSecrets(), []);
  });
});
