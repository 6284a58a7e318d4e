import cron from 'node-cron';
import type { Deps } from '../deps.js';

export interface Job {
  name: string;
  schedule: string;
  run: (deps: Deps) => Promise<void>;
}

/** node-cron's own messages (a skipped overlapping run, say) as structured lines of ours. */
const cronLogger = (deps: Deps, job: string) => ({
  info: (message: string) => deps.log.debug({ event: 'job.cron', job }, message),
  warn: (message: string) => deps.log.debug({ event: 'job.cron', job }, message),
  error: (message: string | Error, err?: Error) => deps.log.error({ event: 'job.cron', job, err: err ?? message }, String(message)),
  debug: (message: string | Error) => deps.log.trace({ event: 'job.cron', job }, String(message)),
});

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
        const endTimer = deps.metrics.jobSeconds.startTimer({ job: job.name });
        const run = job.run(deps).then(
          () => void deps.metrics.jobRuns.inc({ job: job.name, outcome: 'ok' }),
          (error: unknown) => {
            deps.metrics.jobRuns.inc({ job: job.name, outcome: 'failed' });
            deps.log.error({ event: 'job.failed', job: job.name, err: error }, 'scheduled job failed');
          },
        );
        run.finally(endTimer);
        running.add(run);
        await run;
        running.delete(run);
      },
      { name: job.name, noOverlap: true, logger: cronLogger(deps, job.name) },
    ),
  );
  return {
    stop: async () => {
      await Promise.all(tasks.map((task) => task.stop()));
      await Promise.all(running);
    },
  };
}
