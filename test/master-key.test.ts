import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/config.js';
import { unsealSecret } from '../src/crypto/secret-box.js';
import { closeDeps, connectDeps, startDaemon } from '../src/daemon.js';
import { storedLogin } from '../src/domain/instances/tenant-login.js';
import { createLogger } from '../src/logger.js';
import { CREATE_INSTANCE, instanceInput, registerLocalPool, resetState, startTestDaemon } from './support/harness.js';

const original = process.env.MASTER_KEY!;
const rotated = randomBytes(32).toString('base64');

/** Starts a daemon with `env` and stops it; the error start-up ended with, if any. */
async function startFails(env: Record<string, string>): Promise<Error | null> {
  const deps = connectDeps(loadConfig({ ...process.env, PORT: '0', ...env }), createLogger('silent'));
  try {
    const daemon = await startDaemon(deps);
    await daemon.stop();
    return null;
  } catch (error) {
    return error as Error;
  } finally {
    await closeDeps(deps);
  }
}

describe('MASTER_KEY at start-up', () => {
  /** A tenant's maintenance login, sealed under the original key. */
  const login = { instanceId: '', password: '' };
  before(async () => {
    const daemon = await startTestDaemon();
    await resetState(daemon.deps);
    await registerLocalPool(daemon, 'pool-sealed', 5);
    login.instanceId = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput() })).data.createInstance.id;
    login.password = (await storedLogin(daemon.deps, login.instanceId)).login.password;
    await daemon.stop();
  });
  after(async () => {
    const daemon = await startTestDaemon({ MASTER_KEY: rotated });
    await resetState(daemon.deps);
    await daemon.stop();
  });

  it('stops start-up, naming the pool, when the key cannot open what is stored', async () => {
    const error = await startFails({ MASTER_KEY: rotated });
    assert.match(error?.message ?? '', /MASTER_KEY cannot decrypt the admin password of pool\(s\) pool-sealed/);
    assert.match(error!.message, /MASTER_KEY_PREVIOUS/);
  });

  it('re-encrypts under MASTER_KEY what MASTER_KEY_PREVIOUS opens, and allocation works with the new key', async () => {
    const daemon = await startTestDaemon({ MASTER_KEY: rotated, MASTER_KEY_PREVIOUS: original });
    try {
      assert.ok(daemon.logs.some((line) => line.includes('"event":"master_key.rotated"') && line.includes('pool-sealed')));
      const pool = await daemon.deps.db.selectFrom('db_servers').select('admin_password_encrypted').executeTakeFirstOrThrow();
      assert.doesNotThrow(() => unsealSecret(pool.admin_password_encrypted, Buffer.from(rotated, 'base64')));
      const sealed = await daemon.deps.db
        .selectFrom('tenant_logins')
        .select('password_encrypted')
        .where('instance_id', '=', login.instanceId)
        .executeTakeFirstOrThrow();
      assert.equal(unsealSecret(sealed.password_encrypted, Buffer.from(rotated, 'base64')), login.password, 'the maintenance login too');
      const created = await daemon.gql(CREATE_INSTANCE, { input: instanceInput() });
      assert.equal(created.data?.createInstance.status, 'ALLOCATED', JSON.stringify(created.errors));
    } finally {
      await daemon.stop();
    }
    const stale = await startFails({ MASTER_KEY: original });
    assert.match(stale?.message ?? '', /pool-sealed/, 'the former key alone no longer opens it');
  });
});
