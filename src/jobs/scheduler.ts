import cron from 'node-cron';
import type { Deps } from '../deps.js';

export interface Job {
  name: string;
  schedule: string;
  run: (deps: Deps) => Promise<void>;
}

/** node-cron's own messages as structured lines of ours. */
const cronLogger = (deps: Deps, job: string) => ({
  info: (message: string) => deps.log.debug({ event: 'job.cron', job }, message),
  warn: (message: string) => deps.log.debug({ event: 'job.cron', job }, message),
  error: (message: string | Error, err?: Error) => deps.log.error({ event: 'job.cron', job, err: err ?? message }, String(message)),
  debug: (message: string | Error) => deps.log.trace({ event: 'job.cron', job }, String(message)),
});

export interface Scheduler {
  /** Runs the job now, besides its schedule (say, when Docker reports a change); once more after a run in progress. */
  runNow: (jobName: string) => void;
  stop: () => Promise<void>;
}

/** Runs each job on its cron schedule and on demand; a job never runs twice at once. */
export function startScheduler(deps: Deps, jobs: Job[]): Scheduler {
  const current = new Map<string, Promise<void>>();
  const again = new Set<string>();
  let stopped = false;

  const run = (job: Job): Promise<void> => {
    const inFlight = current.get(job.name);
    if (inFlight) return inFlight;
    const endTimer = deps.metrics.jobSeconds.startTimer({ task: job.name });
    const execution = job
      .run(deps)
      .then(
        () => void deps.metrics.jobRuns.inc({ task: job.name, outcome: 'ok' }),
        (error: unknown) => {
          deps.metrics.jobRuns.inc({ task: job.name, outcome: 'failed' });
          deps.log.error({ event: 'job.failed', job: job.name, err: error }, 'scheduled job failed');
        },
      )
      .finally(() => {
        endTimer();
        current.delete(job.name);
        if (again.delete(job.name) && !stopped) void run(job);
      });
    current.set(job.name, execution);
    return execution;
  };

  // All or nothing: a schedule that cannot start stops the ones already started, so no job runs unled.
  const tasks: ReturnType<typeof cron.schedule>[] = [];
  try {
    for (const job of jobs) {
      tasks.push(
        cron.schedule(job.schedule, () => (current.has(job.name) ? undefined : run(job)), {
          name: job.name,
          noOverlap: true,
          logger: cronLogger(deps, job.name),
        }),
      );
    }
  } catch (error) {
    stopped = true;
    for (const task of tasks) void Promise.resolve(task.stop()).catch(() => undefined);
    throw error;
  }
  return {
    runNow: (jobName) => {
      const job = jobs.find((candidate) => candidate.name === jobName);
      if (!job || stopped) return;
      if (current.has(jobName)) again.add(jobName);
      else void run(job);
    },
    stop: async () => {
      stopped = true;
      for (const task of tasks) await task.stop();
      await Promise.all(current.values());
    },
  };
}
