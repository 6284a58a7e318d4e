import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { dependencyFailure } from '../../src/http/dependency-errors.js';

describe('dependencyFailure', () => {
  // A server that accepts connections and never answers: what a pool too busy to let a login in looks like.
  let silent: Server;
  let port: number;
  const held: Socket[] = [];
  before(async () => {
    silent = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    port = (silent.address() as { port: number }).port;
  });
  after(async () => {
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it("reads node-postgres's connect timeout as SERVICE_UNAVAILABLE, naming it", async () => {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'u', database: 'd', connectionTimeoutMillis: 200 });
    client.on('error', () => undefined);
    const error = await client.connect().then(
      () => null,
      (failure: unknown) => failure,
    );
    const mapped = dependencyFailure(error);
    assert.equal(mapped?.code, 'SERVICE_UNAVAILABLE', String(error));
    assert.match(mapped.message, /^postgres is unavailable \(.*timeout.*\); try again/);
  });

  it('reads a lock wait past lock_timeout as CONFLICT, and leaves other errors alone', () => {
    assert.equal(
      dependencyFailure(Object.assign(new Error('canceling statement due to lock timeout'), { code: '55P03' }))?.code,
      'CONFLICT',
    );
    assert.equal(dependencyFailure(new Error('something else')), null);
    assert.equal(dependencyFailure('not an error'), null);
  });
});
