import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub } from 'graphql-yoga';
import { Redis } from 'ioredis';
import type { InstanceEventRow, RolloutEventRow } from '../db/schema.js';
import type { Logger } from '../logger.js';

/** An instance event as it travels through Redis (JSON: the time as an ISO string). */
export type InstanceEventMessage = Omit<InstanceEventRow, 'created_at'> & { created_at: string };
export type RolloutEventMessage = Omit<RolloutEventRow, 'created_at'> & { created_at: string };

/** Publishes instance and rollout events to every daemon replica and streams them to subscribers, through Redis pub/sub. */
export interface EventBus {
  /** Best effort: the event is in the rows already; while Redis is away, live subscribers miss it (logged). */
  publish: (instanceId: string, event: InstanceEventRow) => void;
  subscribe: (instanceId: string) => AsyncIterable<InstanceEventMessage>;
  publishRollout: (event: RolloutEventRow) => void;
  subscribeRollout: (rolloutId: string) => AsyncIterable<RolloutEventMessage>;
  close: () => void;
}

/**
 * The Redis event target calls publish/subscribe/unsubscribe without awaiting them: it is handed clients whose
 * calls report a failure in a log line instead of leaving a rejected promise behind (which would end the process).
 */
export function createEventBus(redisUrl: string, publishClient: Redis, log: Logger): EventBus {
  const subscribeClient = new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: false });
  subscribeClient.on('error', () => undefined); // the publishing client reports the same outage
  const failed = (event: string) => (error: Error) =>
    log.warn({ event, reason: error.message }, 'instance event not relayed through Redis');
  const publisher = {
    publish: (channel: string, message: string) => publishClient.publish(channel, message).catch(failed('events.publish_failed')),
  };
  const subscriber = {
    on: subscribeClient.on.bind(subscribeClient),
    subscribe: (channel: string) => subscribeClient.subscribe(channel).catch(failed('events.subscribe_failed')),
    unsubscribe: (channel: string) => subscribeClient.unsubscribe(channel).catch(failed('events.unsubscribe_failed')),
  };
  const pubSub = createPubSub<{
    'instance-events': [instanceId: string, event: InstanceEventMessage];
    'rollout-events': [rolloutId: string, event: RolloutEventMessage];
  }>({
    eventTarget: createRedisEventTarget({ publishClient: publisher as unknown as Redis, subscribeClient: subscriber as unknown as Redis }),
  });
  return {
    publish: (instanceId, event) => {
      const message = { ...event, created_at: event.created_at.toISOString() };
      // Sent once the work at hand has gone on (the next statement, the response): writing to Redis wakes it, which
      // costs the caller a few tenths of a millisecond it need not wait for. Events keep their order.
      setImmediate(() => pubSub.publish('instance-events', instanceId, message));
    },
    subscribe: (instanceId) => pubSub.subscribe('instance-events', instanceId),
    publishRollout: (event) => {
      const message = { ...event, created_at: event.created_at.toISOString() };
      setImmediate(() => pubSub.publish('rollout-events', event.rollout_id, message));
    },
    subscribeRollout: (rolloutId) => pubSub.subscribe('rollout-events', rolloutId),
    close: () => subscribeClient.disconnect(),
  };
}
