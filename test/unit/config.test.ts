import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';

const valid = {
  DATABASE_URL: 'postgres://u:p@localhost:5432/db',
  REDIS_URL: 'redis://localhost:6379/0',
  ADMIN_TOKEN: 'a'.repeat(32),
  MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
};

const problemsOf = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail('config was accepted');
};

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(valid);
    assert.equal(config.port, 4000);
    assert.deepEqual(config.odooImages, { '17.0': 'odoo:17.0' });
    assert.equal(config.postgresPoolImage, 'postgres:16');
    assert.equal(config.cephfsRoot, '/mnt/cephfs');
    assert.equal(config.credentialsTtlSeconds, 3600);
    assert.equal(config.masterKey.length, 32);
    assert.deepEqual([config.odooRestartDelaySeconds, config.odooHealthIntervalSeconds], [5, 5]);
  });

  it('takes the Odoo restart delay and health-check interval in whole seconds, a check at least every 300 s', () => {
    const config = loadConfig({ ...valid, ODOO_RESTART_DELAY_SECONDS: '0', ODOO_HEALTH_INTERVAL_SECONDS: '1' });
    assert.deepEqual([config.odooRestartDelaySeconds, config.odooHealthIntervalSeconds], [0, 1]);
    assert.deepEqual(problemsOf({ ...valid, ODOO_HEALTH_INTERVAL_SECONDS: '0' }), [
      'ODOO_HEALTH_INTERVAL_SECONDS: must be an integer from 1 to 300',
    ]);
  });

  it('offers the Odoo versions of ODOO_IMAGES, or 17.0 on ODOO_IMAGE without it', () => {
    assert.deepEqual(loadConfig({ ...valid, ODOO_IMAGE: 'local/odoo:17.0' }).odooImages, { '17.0': 'local/odoo:17.0' });
    const both = loadConfig({ ...valid, ODOO_IMAGE: 'x:1', ODOO_IMAGES: '17.0=odoo:17.0, 18.0=registry.example.com/odoo:18.0@sha256:ab' });
    assert.deepEqual(both.odooImages, { '17.0': 'odoo:17.0', '18.0': 'registry.example.com/odoo:18.0@sha256:ab' });
    for (const bad of ['17.0', '17=odoo:17', '17.0=odoo:17.0,17.0=odoo:17.1', '17.0=odoo 17', '17.0=a=b'])
      assert.equal(problemsOf({ ...valid, ODOO_IMAGES: bad }).length, 1, bad);
    assert.deepEqual(problemsOf({ ...valid, ODOO_IMAGES: '18=odoo:18.0' }), [
      'ODOO_IMAGES: must be version=image pairs separated by commas, such as 17.0=odoo:17.0,18.0=odoo:18.0',
    ]);
  });

  it('keeps templates of TEMPLATE_MODULES (base by default), sorted and once each, and refuses what is not a module name', () => {
    assert.deepEqual(loadConfig(valid).templates.modules, ['base']);
    assert.equal(loadConfig(valid).templates.enabled, true);
    const custom = loadConfig({ ...valid, TEMPLATE_MODULES: 'sale, contacts,base,contacts', ODOO_TEMPLATES: 'off' });
    assert.deepEqual([custom.templates.modules, custom.templates.enabled], [['base', 'contacts', 'sale'], false]);
    for (const bad of ['Base', 'base;drop', 'base contacts', '-i', ','])
      assert.deepEqual(
        problemsOf({ ...valid, TEMPLATE_MODULES: bad }),
        ['TEMPLATE_MODULES: must be Odoo module names separated by commas'],
        bad,
      );
  });

  it('reports every problem on a line of its own, naming the variable', () => {
    const problems = problemsOf({ MASTER_KEY: 'c2hvcnQ=', PORT: 'eighty', CEPHFS_ROOT: 'relative/path', DATABASE_URL: 'mysql://x' });
    assert.deepEqual(problems.sort(), [
      'ADMIN_TOKEN: is required',
      'CEPHFS_ROOT: must be an absolute path',
      'DATABASE_URL: must be a URL starting with postgres:// or postgresql://',
      'MASTER_KEY: must be 32 bytes encoded in base64',
      'PORT: must be an integer from 0 to 65535',
      'REDIS_URL: is required',
    ]);
  });

  it('reads secrets from *_FILE, and says which file it cannot read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'config-'));
    writeFileSync(join(dir, 'token'), `${'t'.repeat(40)}\n`);
    const config = loadConfig({ ...valid, ADMIN_TOKEN: '', ADMIN_TOKEN_FILE: join(dir, 'token') });
    assert.equal(config.adminToken, 't'.repeat(40));
    assert.deepEqual(problemsOf({ ...valid, MASTER_KEY_FILE: join(dir, 'missing') }), [
      `MASTER_KEY_FILE: cannot read ${join(dir, 'missing')} (ENOENT)`,
    ]);
  });

  it('checks every cron expression at start-up', () => {
    assert.deepEqual(problemsOf({ ...valid, POOL_HEALTH_CRON: '*/15 * * *', BILLING_RETRY_CRON: '61 * * * *' }).sort(), [
      'BILLING_RETRY_CRON: must be a cron expression (5 or 6 fields, as node-cron reads them)',
      'POOL_HEALTH_CRON: must be a cron expression (5 or 6 fields, as node-cron reads them)',
    ]);
    assert.equal(loadConfig({ ...valid, POOL_HEALTH_CRON: '*/30 * * * * *' }).pools.healthCron, '*/30 * * * * *');
  });

  it('takes one way to verify customer tokens, and a JWKS over https unless on localhost', () => {
    const secret = 's'.repeat(40);
    assert.deepEqual(problemsOf({ ...valid, JWT_SECRET: secret, JWT_JWKS_URL: 'https://auth.example/.well-known/jwks.json' }), [
      'JWT_JWKS_URL: cannot be set together with JWT_SECRET (choose one way to verify customer tokens)',
    ]);
    assert.deepEqual(problemsOf({ ...valid, JWT_JWKS_URL: 'http://auth.example/jwks.json' }), [
      'JWT_JWKS_URL: must be https (http only on localhost)',
    ]);
    assert.equal(
      loadConfig({ ...valid, JWT_JWKS_URL: 'http://localhost:8080/jwks.json' }).customerAuth.jwksUrl,
      'http://localhost:8080/jwks.json',
    );
  });

  it('reads CORS origins, Docker timeout and a previous master key', () => {
    const config = loadConfig({
      ...valid,
      CORS_ORIGINS: 'https://admin.example, http://localhost:3000/',
      DOCKER_TIMEOUT_MS: '5000',
      MASTER_KEY_PREVIOUS: Buffer.alloc(32, 8).toString('base64'),
    });
    assert.deepEqual(config.corsOrigins, ['https://admin.example', 'http://localhost:3000']);
    assert.equal(config.dockerTimeoutMs, 5000);
    assert.equal(config.masterKeyPrevious?.length, 32);
    assert.deepEqual(loadConfig(valid).corsOrigins, [], 'no origin unless listed');
    assert.equal(problemsOf({ ...valid, CORS_ORIGINS: 'https://admin.example/app' })[0]?.split(':')[0], 'CORS_ORIGINS.0');
    assert.deepEqual(problemsOf({ ...valid, MASTER_KEY_PREVIOUS: valid.MASTER_KEY }), ['MASTER_KEY_PREVIOUS: must differ from MASTER_KEY']);
  });

  it('keeps backups local only without a bucket; with one, they are encrypted and the destination is checked', () => {
    assert.equal(loadConfig(valid).offsite.destination, null);
    const key = Buffer.alloc(32, 9).toString('base64');
    const config = loadConfig({
      ...valid,
      BACKUP_S3_ENDPOINT: 'http://127.0.0.1:7480',
      BACKUP_S3_BUCKET: 'orchestrator-backups',
      BACKUP_S3_PREFIX: 'prod',
      BACKUP_S3_ACCESS_KEY_ID: 'AKID',
      BACKUP_S3_SECRET_ACCESS_KEY: 'secret',
      BACKUP_ENCRYPTION_KEY: key,
      BACKUP_KEEP_LOCAL_DAYS: '3',
    });
    assert.deepEqual(config.offsite.destination, {
      endpoint: 'http://127.0.0.1:7480',
      region: 'us-east-1',
      bucket: 'orchestrator-backups',
      prefix: 'prod/',
      forcePathStyle: true,
      credentials: { accessKeyId: 'AKID', secretAccessKey: 'secret' },
    });
    assert.equal(config.offsite.keepLocalDays, 3);
    assert.equal(loadConfig({ ...valid, BACKUP_S3_BUCKET: 'b-1', BACKUP_ENCRYPTION_KEY: key }).offsite.destination?.forcePathStyle, false);
    assert.deepEqual(
      problemsOf({
        ...valid,
        BACKUP_S3_BUCKET: 'Not_A_Bucket',
        BACKUP_S3_ENDPOINT: 'http://user:pw@rgw:7480',
        BACKUP_S3_ACCESS_KEY_ID: 'AKID',
        BACKUP_ENCRYPTION_KEY_PREVIOUS: key,
      }).sort(),
      [
        'BACKUP_ENCRYPTION_KEY: is required when BACKUP_ENCRYPTION_KEY_PREVIOUS is set',
        'BACKUP_ENCRYPTION_KEY: is required when BACKUP_S3_BUCKET is set (backups are encrypted before they leave)',
        'BACKUP_S3_BUCKET: must be a bucket name: 3-63 lower-case letters, digits, dots and hyphens',
        'BACKUP_S3_ENDPOINT: must not carry credentials (use BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY)',
        'BACKUP_S3_SECRET_ACCESS_KEY: is required with the other S3 key',
      ],
    );
  });
});
