import { connect, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a real server, for a suite that must see that server vanish without stopping it for
 * everyone else: `cut()` resets every connection and refuses new ones (as a server that went away), `cutAfter(n)`
 * does so once `n` bytes went upstream (mid-request), `hold()` stops forwarding (as a server that hangs), `restore()`
 * lets everything through again.
 */
export interface TcpProxy {
  url: string;
  cut: () => void;
  cutAfter: (bytes: number) => void;
  hold: () => void;
  restore: () => void;
  close: () => Promise<void>;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const upstream = new URL(target);
  let mode: 'pass' | 'cut' | 'hold' = 'pass';
  let cutAt = Infinity;
  let sent = 0;
  const pairs = new Set<[Socket, Socket]>();
  const cut = () => {
    mode = 'cut';
    for (const [client, server] of pairs) {
      client.resetAndDestroy();
      server.destroy();
    }
    pairs.clear();
  };
  const server = createServer((client) => {
    if (mode === 'cut') return void client.resetAndDestroy();
    const origin = connect(Number(upstream.port), upstream.hostname);
    const pair: [Socket, Socket] = [client, origin];
    pairs.add(pair);
    if (mode === 'hold') client.pause();
    client.on('data', (data: Buffer) => {
      sent += data.length;
      origin.write(data);
      if (sent > cutAt) cut();
    });
    origin.pipe(client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      origin.destroy();
    };
    client.on('close', end).on('error', end);
    origin.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    cut,
    cutAfter: (bytes) => {
      cutAt = sent + bytes;
    },
    hold: () => {
      mode = 'hold';
      for (const [client] of pairs) client.pause();
    },
    restore: () => {
      mode = 'pass';
      cutAt = Infinity;
      for (const [client] of pairs) client.resume();
    },
    close: async () => {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
