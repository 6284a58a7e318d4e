import cron from 'node-cron';
import type { Deps } from '../deps.js';

export interface Job {
  name: string;
  schedule: string;
  run: (deps: Deps) => Promise<void>;
}

export interface Scheduler {
  stop: () => Promise<void>;
}

/** Runs each job on its cron schedule; a run still going when the next is due is skipped, never doubled. */
export function startScheduler(deps: Deps, jobs: Job[]): Scheduler {
  const running = new Set<Promise<void>>();
  const tasks = jobs.map((job) =>
    cron.schedule(
      job.schedule,
      async () => {
        const run = job.run(deps).catch((error: unknown) => {
          deps.log.error({ event: 'job.failed', job: job.name, err: error }, 'scheduled job failed');
        });
        running.add(run);
        await run;
        running.delete(run);
      },
      { name: job.name, noOverlap: true },
    ),
  );
  return {
    stop: async () => {
      await Promise.all(tasks.map((task) => task.stop()));
      await Promise.all(running);
    },
  };
}
