import type { Deps } from '../deps.js';
import { connectDocker } from '../docker.js';
import { labelFilters, managedLabels } from '../swarm/labels.js';
import { BACKUP_TRACKING } from './backups.js';
import { INSTANCE_TRACKING } from './instance-tracking.js';
import type { Scheduler } from './scheduler.js';

const WAKEUP_DELAYS_MS = [0, 150, 400];
const RECONNECT_MS = 5000;

type EventStream = NodeJS.ReadableStream & { destroy: () => void };

interface DockerEvent {
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** Pure: the container and exit code a `die` event (one line of Docker's event stream) gives; null for any other line. */
export function exitOfEvent(line: string): { containerId: string; exitCode: number } | null {
  let event: DockerEvent;
  try {
    event = JSON.parse(line) as DockerEvent;
  } catch {
    return null;
  }
  const exitCode = Number(event.Actor?.Attributes?.exitCode ?? Number.NaN);
  if (event.Action !== 'die' || !event.Actor?.ID || !Number.isInteger(exitCode)) return null;
  return { containerId: event.Actor.ID, exitCode };
}

/**
 * Wakes the instance tracker as soon as Docker reports a container of ours turning healthy or dying, instead of
 * at its next tick, and records the exit codes of those that died: a job's end is then known without waiting for an
 * inspect, which answers only once Docker has cleaned the container up. Docker reports only this node's containers;
 * the tracker's schedule covers the others.
 * The stream may stay quiet for hours, so it has a Docker client without the call timeout; when it ends (dockerd
 * restarted, say) it is opened again.
 */
export function wakeTrackingOnDockerEvents(deps: Deps, scheduler: Scheduler): { stop: () => void } {
  const docker = connectDocker(deps.config.dockerHost);
  let stream: EventStream | null = null;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  // Only this daemon's containers (DOCKER_LABELS too, as the tracker lists them): another deployment's do not wake it.
  const filters = {
    type: ['container'],
    event: ['health_status', 'die', 'start'],
    ...labelFilters(managedLabels(deps.config.dockerLabels)),
  };

  const reopen = (reason: string) => {
    stream = null;
    if (stopped) return;
    deps.log.warn({ event: 'docker.events_lost', reason }, 'docker event stream lost; tracking on schedule until it is back');
    clearTimeout(retry);
    retry = setTimeout(subscribe, RECONNECT_MS).unref();
  };
  function subscribe() {
    docker
      .getEvents({ filters: JSON.stringify(filters) })
      .then((events) => {
        const opened = events as EventStream;
        if (stopped) return opened.destroy();
        stream = opened;
        let partial = '';
        // Swarm's task state follows the container's a moment later: look again shortly after.
        opened.on('data', (chunk: Buffer | string) => {
          // One JSON event a line; a chunk may hold several, or part of one.
          const lines = (partial + chunk.toString()).split('\n');
          partial = lines.pop() ?? '';
          for (const exit of lines.map(exitOfEvent)) if (exit) deps.containerExits.record(exit.containerId, exit.exitCode);
          for (const delayMs of WAKEUP_DELAYS_MS)
            setTimeout(() => [INSTANCE_TRACKING, BACKUP_TRACKING].forEach((job) => scheduler.runNow(job)), delayMs).unref();
        });
        opened.on('error', (error: Error) => reopen(error.message));
        opened.on('end', () => reopen('stream ended'));
      })
      .catch((error: Error) => reopen(error.message));
  }
  subscribe();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(retry);
      stream?.destroy();
    },
  };
}
