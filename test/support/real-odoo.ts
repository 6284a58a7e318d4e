import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { localPool } from './harness.js';

/** The real Odoo servers scripts/env/odoo-images.sh builds (or tags from the official images). */
export const realOdooImage = (version: string): string => `local/odoo:${version}`;

/** Runs a command, feeding it `input`; resolves with its stdout (and stderr, with `both`), rejects with its stderr when it fails. */
export function run(command: string, args: string[], input = '', both = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (both ? out : err).push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(Buffer.concat(out).toString('utf8'))
        : reject(new Error(`${command} ${args.slice(0, 3).join(' ')} exited ${code}: ${Buffer.concat(err).toString('utf8')}`)),
    );
    child.stdin.end(input);
  });
}

/**
 * A container on the tenants' overlay network, where a tenant's Odoo answers by its service name (this host cannot
 * enter the overlay): requests go through `docker exec` of curl in it, as a browser behind Traefik would send them.
 */
export interface OverlayClient {
  id: string;
  /** POSTs `body` to `url` with the cookie jar `jar`, as JSON (or as a form); the answer's status and body. */
  post(url: string, body: unknown, jar: string, as?: 'json' | 'form'): Promise<{ status: number; body: string }>;
  /** Opens a websocket to `url` as a browser does: the status of the handshake's answer (101 when it is accepted), 0 when none came. */
  websocket(url: string): Promise<number>;
  remove(): Promise<void>;
}

export async function overlayClient(
  docker: Docker,
  network: string,
  image: string,
  labels: Record<string, string>,
): Promise<OverlayClient> {
  // Docker may say an attachable overlay network is "not found" for a moment while this node tears down its last task
  // on it (a suite just removed its services): the container is made again, up to five times.
  const start = async (): Promise<Docker.Container> => {
    const made = await docker.createContainer({
      Image: image,
      Entrypoint: ['sleep'],
      Cmd: ['infinity'],
      Labels: labels,
      HostConfig: { NetworkMode: network, AutoRemove: true },
    });
    try {
      await made.start();
      return made;
    } catch (error) {
      await made.remove({ force: true }).catch(() => undefined);
      throw error;
    }
  };
  let container: Docker.Container | undefined;
  for (let attempt = 1; !container; attempt++) {
    container = await start().catch(async (error: Error) => {
      if (attempt >= 5 || !/network \S+ not found/.test(error.message)) throw error;
      console.log(`[note] overlay client: ${error.message}; tried again`);
      await sleep(1000);
      return undefined;
    });
  }
  return {
    id: container.id,
    async post(url, body, jar, as = 'json') {
      const send = () =>
        run(
          'docker',
          [
            'exec',
            '-i',
            container.id,
            'curl',
            '-sS',
            '-m',
            '120',
            '-c',
            `/tmp/${jar}`,
            '-b',
            `/tmp/${jar}`,
            '-H',
            as === 'json' ? 'Content-Type: application/json' : 'Content-Type: application/x-www-form-urlencoded',
            '--data-binary',
            '@-',
            '-w',
            '\n%{http_code}',
            url,
          ],
          as === 'json' ? JSON.stringify(body) : new URLSearchParams(body as Record<string, string>).toString(),
        );
      let output: string;
      // Docker's DNS on the overlay may answer for a task that just started a moment after Swarm says it runs: a name
      // not resolved yet (curl exit 6) or a port not listening yet (7) means nothing was sent, so it is tried again.
      // A connection closed with no answer (52) is tried again too, as a browser's user would: on two busy cores a
      // server just started has dropped one (what it did with the request is then checked by what follows).
      for (const deadline = Date.now() + 30_000; ; await sleep(250)) {
        try {
          output = await send();
          break;
        } catch (error) {
          const retried = /exited (6|7|52):/.exec((error as Error).message);
          if (!retried || Date.now() > deadline) throw new Error(`POST ${url}: ${(error as Error).message}`, { cause: error });
          if (retried[1] === '52') console.log(`[note] POST ${url}: closed with no answer; tried again`);
        }
      }
      const split = output.lastIndexOf('\n');
      return { status: Number(output.slice(split + 1)), body: output.slice(0, split) };
    },
    async websocket(url) {
      // An accepted socket stays open: curl gives up after 3 s, having printed the handshake's status.
      const handshake = [
        'curl -sS -o /dev/null -m 3 -w "%{http_code}"',
        '-H "Connection: Upgrade" -H "Upgrade: websocket" -H "Sec-WebSocket-Version: 13"',
        '-H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" -H "Origin: $2" "$1"; exit 0',
      ].join(' ');
      return Number(await run('docker', ['exec', container.id, 'sh', '-c', handshake, 'websocket', url, new URL(url).origin]));
    },
    remove: () => container.remove({ force: true }).catch(() => undefined),
  };
}

/** One browser session with a tenant's Odoo, over JSON-RPC (what Odoo's web client sends). */
export class OdooSession {
  private readonly jar = `jar-${randomUUID()}`;
  constructor(
    private readonly client: OverlayClient,
    private readonly base: string,
    private readonly db: string,
  ) {}

  async rpc(path: string, params: Record<string, unknown>): Promise<{ status: number; result?: any; error?: any }> {
    const answer = await this.client.post(`${this.base}${path}`, { jsonrpc: '2.0', method: 'call', id: 1, params }, this.jar);
    if (answer.status !== 200) return { status: answer.status };
    const body = JSON.parse(answer.body) as { result?: unknown; error?: unknown };
    return { status: answer.status, result: body.result, error: body.error };
  }

  /** POST /web/session/authenticate: the user's id, or null when Odoo refuses the login. */
  async login(login: string, password: string): Promise<number | null> {
    const answer = await this.rpc('/web/session/authenticate', { db: this.db, login, password });
    return answer.result?.uid ?? null;
  }

  /** A model method through /web/dataset/call_kw, as the logged-in user; throws Odoo's error. */
  async call(model: string, method: string, args: unknown[], kwargs: Record<string, unknown> = {}): Promise<any> {
    const answer = await this.rpc('/web/dataset/call_kw', { model, method, args, kwargs });
    if (answer.status !== 200 || answer.error) throw new Error(`${model}.${method}: ${answer.status} ${JSON.stringify(answer.error)}`);
    return answer.result;
  }
}

/**
 * Loads an Odoo dump zip into a new database `database` on the local PostgreSQL with real Odoo's own CLI (`odoo db load`,
 * which restores it as a copy), in a container of `image`, the filestore under `dataDir`. The pool admin (CREATEDB)
 * logs in; Odoo refuses to run as `postgres`.
 */
export async function odooDbLoad(image: string, zipPath: string, database: string, dataDir: string): Promise<string> {
  const confDir = await mkdtemp(join(tmpdir(), 'odoo-load-'));
  const conf = join(confDir, 'odoo.conf');
  await writeFile(
    conf,
    `[options]\ndb_host = 127.0.0.1\ndb_port = ${localPool.port}\ndb_user = ${localPool.adminUser}\ndb_password = ${localPool.adminPassword}\ndata_dir = /var/lib/odoo\n`,
  );
  await chown(conf, 101, 101);
  await chmod(conf, 0o400);
  await chmod(zipPath, 0o644);
  await chown(dataDir, 101, 101);
  try {
    return await run('docker', [
      'run',
      '--rm',
      '--network',
      'host',
      '-v',
      `${conf}:/etc/odoo/load.conf:ro`,
      '-v',
      `${zipPath}:/dump/backup.zip:ro`,
      '-v',
      `${dataDir}:/var/lib/odoo`,
      '--entrypoint',
      'odoo',
      image,
      'db',
      '-c',
      '/etc/odoo/load.conf',
      'load',
      database,
      '/dump/backup.zip',
    ]);
  } finally {
    await rm(confDir, { recursive: true, force: true });
  }
}
