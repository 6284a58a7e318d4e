import type { Deps } from '../deps.js';
import { labelKeys } from '../swarm/labels.js';
import { BACKUP_TRACKING } from './backups.js';
import { INSTANCE_TRACKING } from './instance-tracking.js';
import type { Scheduler } from './scheduler.js';

const WAKEUP_DELAYS_MS = [0, 150, 400];

/**
 * Wakes the instance tracker as soon as Docker reports a container of ours turning healthy or dying, instead of
 * at its next tick. Docker reports only this node's containers; the tracker's schedule covers the others.
 */
export function wakeTrackingOnDockerEvents(deps: Deps, scheduler: Scheduler): { stop: () => void } {
  let stream: NodeJS.ReadableStream | null = null;
  let stopped = false;
  const filters = { type: ['container'], event: ['health_status', 'die', 'start'], label: [`${labelKeys.managed}=true`] };
  deps.docker
    .getEvents({ filters: JSON.stringify(filters) })
    .then((events) => {
      if (stopped) return (events as unknown as { destroy: () => void }).destroy();
      stream = events;
      // Swarm's task state follows the container's a moment later: look again shortly after.
      events.on('data', () => {
        for (const delayMs of WAKEUP_DELAYS_MS) setTimeout(() => [INSTANCE_TRACKING, BACKUP_TRACKING].forEach(scheduler.runNow), delayMs).unref();
      });
      events.on('error', (error: Error) => deps.log.warn({ event: 'docker.events_error', reason: error.message }, 'docker event stream failed'));
    })
    .catch((error: Error) => deps.log.warn({ event: 'docker.events_unavailable', reason: error.message }, 'tracking on schedule only'));
  return {
    stop: () => {
      stopped = true;
      (stream as unknown as { destroy?: () => void } | null)?.destroy?.();
    },
  };
}
