/**
 * The jobs' scripts (src/swarm/scripts) run by bash on this machine, with stand-ins for pg_dump, psql and pg_restore on
 * PATH (they write what they were asked into a log) and the real tar and sha256 tools; psycopg2 is a stand-in module for
 * the database wait, and a stand-in `odoo` package for the server's start. The real tools against a real pool run in the
 * backups suites, real Odoo in the real-Odoo suites.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DUMP_FILE, FILESTORE_FILE, MANIFEST_FILE } from '../../src/swarm/backup-job.js';
import { jobScript, WAIT_FOR_DATABASE, type JobScriptName } from '../../src/swarm/job-scripts.js';
import { odooLaunch } from '../../src/swarm/odoo-config.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const run = (file: string, args: string[], env: Record<string, string>): Promise<Run> =>
  new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, ...env }, timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });

const sha256 = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

/** Each stand-in logs its arguments, one call a line; STUB_FAIL names one that fails. */
const STUBS: Record<string, string> = {
  pg_dump: `#!/bin/sh
echo "pg_dump $*" >>"$STUB_LOG"
[ "$STUB_FAIL" = pg_dump ] && { echo 'pg_dump: error: connection refused' >&2; exit 1; }
while [ $# -gt 0 ]; do [ "$1" = -f ] && printf 'custom dump of %s' "$DB_NAME" >"$2"; shift; done`,
  psql: `#!/bin/sh
echo "psql $*" >>"$STUB_LOG"
case "$*" in
  *"show server_version"*) echo '16.4 (Debian 16.4-1.pgdg120+1)' ;;
  *to_regclass*) echo t ;;
  *json_object_agg*) echo '{"base": "17.0.1.3", "web": "17.0.1.0"}' ;;
  *) read -r _; echo 00000003-0000001B-1; cat >/dev/null ;;
esac`,
  pg_restore: `#!/bin/sh
echo "pg_restore $*" >>"$STUB_LOG"
[ "$STUB_FAIL" = pg_restore ] && { echo 'pg_restore: error: could not execute query' >&2; exit 1; }
out=''; while [ $# -gt 0 ]; do [ "$1" = -f ] && out=$2; shift; done
[ -z "$out" ] || echo 'SET statement_timeout = 0;' >"$out"`,
};

describe('job scripts, run with stand-ins for the PostgreSQL tools', () => {
  let dir: string;
  let bin: string;
  let log: string;
  const backupsDir = () => join(dir, 'backups');
  const dataDir = () => join(dir, 'data');
  const calls = async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);

  const runScript = (name: JobScriptName, env: Record<string, string>) =>
    run('bash', ['-c', jobScript(name)], { PATH: `${bin}:${process.env.PATH}`, STUB_LOG: log, STUB_FAIL: '', ...env });

  const backupEnv = (backupId: string, extra: Record<string, string> = {}) => ({
    BACKUPS_DIR: backupsDir(),
    DATA_DIR: dataDir(),
    BACKUP_ID: backupId,
    INSTANCE_ID: '3f1c2a9e-8b7d-4c6e-9f0a-1b2c3d4e5f60',
    DB_NAME: 'odoo_3f1c',
    DB_ROLE: 'odoo_3f1c_user',
    ODOO_VERSION: '17.0',
    ...extra,
  });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'job-scripts-'));
    bin = join(dir, 'bin');
    log = join(dir, 'calls.log');
    await mkdir(bin);
    for (const [name, body] of Object.entries(STUBS)) {
      await writeFile(join(bin, name), body);
      await chmod(join(bin, name), 0o755);
    }
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const freshData = async () => {
    await rm(dataDir(), { recursive: true, force: true });
    await rm(backupsDir(), { recursive: true, force: true });
    await rm(log, { force: true });
    await mkdir(join(dataDir(), 'filestore', 'odoo_3f1c', 'ab'), { recursive: true });
    await writeFile(join(dataDir(), 'filestore', 'odoo_3f1c', 'ab', 'abcdef'), 'an attachment');
    await mkdir(backupsDir());
  };

  it("backup.sh dumps as the tenant's role, archives the filestore, and writes a manifest whose sizes and hashes are the files'", async () => {
    await freshData();
    const done = await runScript('backup.sh', backupEnv('b1'));
    assert.equal(done.code, 0, done.stderr);
    const final = join(backupsDir(), 'b1');
    assert.deepEqual((await readdir(final)).sort(), [DUMP_FILE, FILESTORE_FILE, MANIFEST_FILE].sort());
    assert.deepEqual(await readdir(backupsDir()), ['b1'], 'no partial directory is left');
    const manifest = JSON.parse(await readFile(join(final, MANIFEST_FILE), 'utf8'));
    assert.equal(manifest.db_name, 'odoo_3f1c');
    assert.deepEqual(manifest.version_info, [17, 0, 0, 'final', 0, '']);
    assert.equal(manifest.pg_version, '16.4');
    assert.deepEqual(manifest.modules, { base: '17.0.1.3', web: '17.0.1.0' });
    for (const file of [DUMP_FILE, FILESTORE_FILE]) {
      const listed = manifest.files.find((entry: { name: string }) => entry.name === file);
      assert.equal(listed.sha256, await sha256(join(final, file)), file);
      assert.equal(listed.size, (await readFile(join(final, file))).length, file);
    }
    const archived = await run('tar', ['-tf', join(final, FILESTORE_FILE)], {});
    assert.deepEqual(archived.stdout.split('\n').filter(Boolean).sort(), ['./', './ab/', './ab/abcdef']);
    assert.ok(
      (await calls()).includes(`pg_dump -Fc --role=odoo_3f1c_user -d odoo_3f1c -f ${join(backupsDir(), '.partial-b1', DUMP_FILE)}`),
    );
  });

  it('backup.sh run again for a backup that is complete does nothing', async () => {
    await rm(log, { force: true });
    const again = await runScript('backup.sh', backupEnv('b1'));
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await calls(), []);
  });

  it('backup.sh with a snapshot dumps at the exported database snapshot and removes the filestore snapshot after', async () => {
    await freshData();
    await mkdir(join(dataDir(), '.snap'));
    const done = await runScript('backup.sh', backupEnv('b2', { SNAPSHOT: 'backup-b2' }));
    assert.equal(done.code, 0, done.stderr);
    assert.ok((await calls()).some((call) => call.startsWith('pg_dump -Fc --role=odoo_3f1c_user --snapshot=00000003-0000001B-1 ')));
    assert.deepEqual(await readdir(join(dataDir(), '.snap')), []);
  });

  it('backup.sh refuses a filestore reached through a symbolic link, and a failed dump: no backup is made', async () => {
    await freshData();
    await rm(join(dataDir(), 'filestore', 'odoo_3f1c'), { recursive: true });
    await mkdir(join(dir, 'elsewhere'), { recursive: true });
    await symlink(join(dir, 'elsewhere'), join(dataDir(), 'filestore', 'odoo_3f1c'));
    const linked = await runScript('backup.sh', backupEnv('b3'));
    assert.notEqual(linked.code, 0);
    assert.match(linked.stderr, /filestore\/odoo_3f1c is reached through a symbolic link: refused/);

    await freshData();
    const failed = await runScript('backup.sh', { ...backupEnv('b4'), STUB_FAIL: 'pg_dump' });
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /connection refused/);
    assert.deepEqual(
      (await readdir(backupsDir())).filter((name) => !name.startsWith('.partial-')),
      [],
      'no complete backup directory',
    );
  });

  const restoreEnv = async (extra: Record<string, string> = {}) => {
    const backup = join(backupsDir(), 'b1');
    return {
      BACKUP_DIR: backup,
      DATA_DIR: dataDir(),
      DATABASE_NEW: 'odoo_3f1c_new_1234abcd',
      DB_ROLE: 'odoo_3f1c_user',
      FILESTORE_NEW: 'odoo_3f1c.new-1234abcd',
      DUMP_SHA256: await sha256(join(backup, DUMP_FILE)),
      FILESTORE_SHA256: await sha256(join(backup, FILESTORE_FILE)),
      TARGET_WAIT_SECONDS: '5',
      ...extra,
    };
  };

  it('restore.sh waits for the directory the daemon makes, then loads the dump into the new database and unpacks the files there', async () => {
    await freshData();
    assert.equal((await runScript('backup.sh', backupEnv('b1'))).code, 0);
    await rm(log, { force: true });
    const target = join(dataDir(), 'filestore', 'odoo_3f1c.new-1234abcd');
    const restoring = runScript('restore.sh', await restoreEnv());
    await new Promise((resolve) => setTimeout(resolve, 300));
    await mkdir(target);
    const done = await restoring;
    assert.equal(done.code, 0, done.stderr);
    assert.equal(await readFile(join(target, 'ab', 'abcdef'), 'utf8'), 'an attachment');
    assert.deepEqual(await calls(), [
      `pg_restore --no-owner --no-privileges --exit-on-error --role=odoo_3f1c_user -j 2 -d odoo_3f1c_new_1234abcd ${join(backupsDir(), 'b1', DUMP_FILE)}`,
    ]);
  });

  it("restore.sh fails on a file whose sha256 is not the manifest's, on a failed load, and when the directory never comes", async () => {
    const target = join(dataDir(), 'filestore', 'odoo_3f1c.new-1234abcd');
    await rm(target, { recursive: true, force: true });
    await mkdir(target);
    const tampered = await runScript('restore.sh', await restoreEnv({ FILESTORE_SHA256: 'f'.repeat(64) }));
    assert.notEqual(tampered.code, 0);
    assert.match(tampered.stderr, /filestore\.tar: sha256 does not match the manifest/);

    const failed = await runScript('restore.sh', { ...(await restoreEnv()), STUB_FAIL: 'pg_restore' });
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /could not execute query/);

    await rm(target, { recursive: true });
    const never = await runScript('restore.sh', await restoreEnv({ TARGET_WAIT_SECONDS: '1' }));
    assert.notEqual(never.code, 0);
    assert.match(never.stderr, /odoo_3f1c_new_1234abcd and its filestore directory were not made/);
  });

  it('export.sh writes plain SQL for a dump that matches the manifest, and nothing for one that does not', async () => {
    await mkdir(join(backupsDir(), '.exports'), { recursive: true });
    const env = { BACKUPS_DIR: backupsDir(), BACKUP_ID: 'b1', EXPORT_ID: 'e1' };
    const done = await runScript('export.sh', { ...env, DUMP_SHA256: await sha256(join(backupsDir(), 'b1', DUMP_FILE)) });
    assert.equal(done.code, 0, done.stderr);
    assert.deepEqual(await readdir(join(backupsDir(), '.exports')), ['e1.sql']);

    const refused = await runScript('export.sh', { ...env, EXPORT_ID: 'e2', DUMP_SHA256: '0'.repeat(64) });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /dump\.custom: sha256 does not match the manifest/);
    assert.deepEqual(await readdir(join(backupsDir(), '.exports')), ['e1.sql']);
  });

  describe('wait-for-database.py, with a stand-in psycopg2', () => {
    const config = () => join(dir, 'odoo.conf');
    const waitFor = async (behaviour: string) => {
      const module = join(dir, 'py', behaviour);
      await mkdir(join(module, 'psycopg2'), { recursive: true });
      await writeFile(
        join(module, 'psycopg2', '__init__.py'),
        [
          'class OperationalError(Exception): pass',
          'class _Connection:',
          '    def close(self): pass',
          'def connect(**settings):',
          `    print('connect', settings['host'], settings['port'], settings['user'], flush=True)`,
          behaviour === 'refused'
            ? `    raise OperationalError('FATAL:  password authentication failed for user "%s"' % settings['user'])`
            : '    return _Connection()',
        ].join('\n'),
      );
      await writeFile(config(), '[options]\ndb_host = pool-1\ndb_port = 5432\ndb_user = odoo_3f1c_user\ndb_password = s3cret\n');
      return run('python3', ['-c', WAIT_FOR_DATABASE, config(), 'echo', 'odoo', 'started'], { PYTHONPATH: module });
    };

    it('runs the command once the login is accepted', async () => {
      const done = await waitFor('accepted');
      assert.equal(done.code, 0, done.stderr);
      assert.equal(done.stdout, 'connect pool-1 5432 odoo_3f1c_user\nodoo started\n');
    });

    it('fails at once on a refused password, naming it, without the password', async () => {
      const refused = await waitFor('refused');
      assert.equal(refused.code, 1);
      assert.equal(refused.stdout, 'connect pool-1 5432 odoo_3f1c_user\n', 'one try, no wait');
      assert.match(refused.stderr, /Database connection failure: FATAL: {2}password authentication failed/);
      assert.ok(!refused.stderr.includes('s3cret'));
    });
  });
  describe('odoo-server.py, with a stand-in odoo package and launcher', () => {
    /** A package with what the script wraps, and a launcher that plays Odoo's master: preload, then spawns. */
    const standIn = async (): Promise<{ path: string; launcher: string }> => {
      const root = join(dir, 'odoo-server');
      const files: Record<string, string> = {
        'py/odoo/__init__.py': 'SUPERUSER_ID = 1\nfrom . import api, modules, service\n',
        'py/odoo/api.py': [
          'class _Http:',
          '    def __init__(self, cr): self.cr = cr',
          "    def routing_map(self): print('routing map of', self.cr, flush=True)",
          'def Environment(cr, uid, context):',
          "    return {'ir.http': _Http(cr)}",
        ].join('\n'),
        'py/odoo/http.py': [
          'class _Application:',
          '    @property',
          "    def statics(self): print('static paths', flush=True)",
          'root = _Application()',
        ].join('\n'),
        'py/odoo/modules/__init__.py': 'from . import registry\n',
        'py/odoo/modules/registry.py': [
          'import contextlib',
          'class Registry:',
          '    def __init__(self, dbname): self.dbname = dbname',
          '    @contextlib.contextmanager',
          '    def cursor(self): yield self.dbname',
        ].join('\n'),
        'py/odoo/service/__init__.py': '',
        'py/odoo/service/server.py': [
          'import sys',
          'def preload_registries(dbnames):',
          "    print('preloaded', *dbnames, flush=True)",
          '    return 0',
          'class PreforkServer:',
          '    long_polling_pid = None',
          '    def long_polling_spawn(self):',
          "        print('gevent spawned as', sys.argv[0], sys.argv[1:], flush=True)",
          '        self.long_polling_pid = 7',
        ].join('\n'),
        'bin/odoo': [
          '#!/usr/bin/env python3',
          'import os, time',
          'import odoo.service.server as server',
          "print('TZ', os.environ['TZ'], flush=True)",
          "server.preload_registries(['odoo_3f1c'])",
          'master = server.PreforkServer()',
          'master.long_polling_spawn()',
          "print('gevent', master.long_polling_pid, flush=True)",
          'now = time.monotonic',
          'time.monotonic = lambda: now() + 5',
          'master.long_polling_spawn()',
        ].join('\n'),
      };
      for (const [name, text] of Object.entries(files)) {
        await mkdir(join(root, name, '..'), { recursive: true });
        await writeFile(join(root, name), `${text}\n`);
      }
      await chmod(join(root, 'bin/odoo'), 0o755);
      return { path: `${join(root, 'bin')}:${process.env.PATH}`, launcher: join(root, 'bin/odoo') };
    };

    /** `<args>` run as the server's command runs them after the wait: the script taken from the environment. */
    const startServer = (args: string[], env: Record<string, string>) => {
      const launch = odooLaunch([], 'server');
      const [python, ...loader] = launch.Command.slice(4);
      const script = Object.fromEntries(
        launch.Env.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
      );
      return run(python!, [...loader, ...args], { ...script, ...env });
    };

    it("maps static paths and routes right after the preload, and starts gevent 5 s after the first try, as Odoo's launcher", async () => {
      const { path, launcher } = await standIn();
      const started = await startServer(['odoo', '-c', '/run/secrets/odoo.conf', '--workers', '3'], {
        PATH: path,
        PYTHONPATH: join(dir, 'odoo-server', 'py'),
      });
      assert.equal(started.code, 0, started.stderr);
      assert.equal(
        started.stdout,
        [
          'TZ UTC',
          'preloaded odoo_3f1c',
          'static paths',
          'routing map of odoo_3f1c',
          'gevent None',
          `gevent spawned as ${launcher} ['-c', '/run/secrets/odoo.conf', '--workers', '3']`,
          '',
        ].join('\n'),
      );
      assert.equal(started.stderr, '');
    });

    it('runs the command as it is where Odoo cannot be imported, saying why', async () => {
      const plain = await startServer(['sh', '-c', 'echo odoo started; printenv ODOO_ORCHESTRATOR_SERVER || echo gone'], {
        PYTHONPATH: join(dir, 'nothing'),
      });
      assert.equal(plain.code, 0, plain.stderr);
      assert.equal(plain.stdout, 'odoo started\ngone\n', 'the script is out of the environment of what it runs');
      assert.match(plain.stderr, /odoo-server\.py: Odoo runs as it is: No module named 'odoo'/);
    });
  });
});
