import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub } from 'graphql-yoga';
import { Redis } from 'ioredis';
import type { InstanceEventRow } from '../db/schema.js';

/** An instance event as it travels through Redis (JSON: the time as an ISO string). */
export type InstanceEventMessage = Omit<InstanceEventRow, 'created_at'> & { created_at: string };

/** Publishes instance events to every daemon replica and streams them to subscribers, through Redis pub/sub. */
export interface EventBus {
  publish: (instanceId: string, event: InstanceEventRow) => void;
  subscribe: (instanceId: string) => AsyncIterable<InstanceEventMessage>;
  close: () => void;
}

export function createEventBus(redisUrl: string, publishClient: Redis): EventBus {
  const subscribeClient = new Redis(redisUrl, { maxRetriesPerRequest: null });
  subscribeClient.on('error', () => undefined); // the publishing client reports the same outage
  const pubSub = createPubSub<{ 'instance-events': [instanceId: string, event: InstanceEventMessage] }>({
    eventTarget: createRedisEventTarget({ publishClient, subscribeClient }),
  });
  return {
    publish: (instanceId, event) => pubSub.publish('instance-events', instanceId, { ...event, created_at: event.created_at.toISOString() }),
    subscribe: (instanceId) => pubSub.subscribe('instance-events', instanceId),
    close: () => subscribeClient.disconnect(),
  };
}
