import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { startDaemonProcess } from './support/daemon-process.js';
import { eventually, startTestDaemon } from './support/harness.js';

describe('shutdown', () => {
  it('on SIGTERM stops taking work, hands leadership back and exits 0', async () => {
    const { child, lines } = await startDaemonProcess({ LEADER_RETRY_MS: '200' });
    const events = () => lines.map((line) => line.event as string);
    const leading = await eventually(async () => events().includes('leader.acquired'), Boolean, 30_000);
    assert.ok(leading, `the daemon led (events: ${events().join(', ')})`);

    const exited = once(child, 'exit');
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0);
    assert.ok(Date.now() - signalledAt < 25_000);
    const ended = events();
    const stopping = ended.indexOf('daemon.stopping');
    assert.ok(
      stopping >= 0 && ended.indexOf('leader.lost') > stopping && ended.indexOf('daemon.stopped') > ended.indexOf('leader.lost'),
      ended.join(', '),
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
