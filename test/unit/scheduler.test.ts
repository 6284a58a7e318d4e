import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Deps } from '../../src/deps.js';
import { startScheduler } from '../../src/jobs/scheduler.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';

const deps = { log: createLogger('silent'), metrics: createMetrics() } as unknown as Deps;

describe('scheduler', () => {
  it('runs a job on demand, never twice at once, and once more when asked during a run', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const scheduler = startScheduler(deps, [
      {
        name: 'slow',
        schedule: '0 0 1 1 *',
        run: async () => {
          running += 1;
          maxRunning = Math.max(maxRunning, running);
          await sleep(100);
          running -= 1;
          runs += 1;
        },
      },
    ]);
    scheduler.runNow('slow');
    scheduler.runNow('slow');
    scheduler.runNow('slow');
    await sleep(350);
    await scheduler.stop();
    assert.equal(maxRunning, 1);
    assert.equal(runs, 2, 'the first run, then one more for the requests that came during it');
  });

  it('starts all its schedules or none: a bad one stops those already started', async () => {
    let runs = 0;
    assert.throws(() =>
      startScheduler(deps, [
        { name: 'every-second', schedule: '* * * * * *', run: async () => void (runs += 1) },
        { name: 'broken', schedule: 'not a schedule', run: async () => undefined },
      ]),
    );
    await sleep(2200);
    assert.equal(runs, 0, 'the schedule started before the bad one never ran');
  });
});
