import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { daemonArguments } from './support/daemon-process.js';
import { eventually, startTestDaemon } from './support/harness.js';

/** Runs the daemon as `npm start` does, collecting its JSON log lines. */
function startDaemonProcess() {
  const child = spawn(process.execPath, daemonArguments(), {
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', LEADER_RETRY_MS: '200' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: string[] = [];
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) if (line.startsWith('{')) events.push(JSON.parse(line).event);
  });
  return { child, events };
}

describe('shutdown', () => {
  it('on SIGTERM stops taking work, hands leadership back and exits 0', async () => {
    const { child, events } = startDaemonProcess();
    const leading = await eventually(async () => events.includes('leader.acquired'), Boolean, 30_000);
    assert.ok(leading, `the daemon led (events: ${events.join(', ')})`);

    const exited = once(child, 'exit');
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0);
    assert.ok(Date.now() - signalledAt < 25_000);
    const stopping = events.indexOf('daemon.stopping');
    assert.ok(
      stopping >= 0 && events.indexOf('leader.lost') > stopping && events.indexOf('daemon.stopped') > events.indexOf('leader.lost'),
      events.join(', '),
    );

    // Leadership is free at once: another replica takes it on its first try.
    const successor = await startTestDaemon({ LEADER_RETRY_MS: '200' });
    try {
      assert.ok(await eventually(async () => successor.daemon.leadership.isLeader(), Boolean, 5_000, 100));
    } finally {
      await successor.stop();
    }
  });
});
