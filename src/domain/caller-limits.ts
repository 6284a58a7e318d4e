import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { DomainError } from '../errors.js';

/**
 * Bounds on what one caller may ask for, kept in Redis so every replica counts the same: a fixed window of `limit`
 * calls per `windowSeconds` for `key` (say, a customer's admin password resets). Over it: CONFLICT saying when the
 * window ends.
 */
export async function takeAllowance(redis: Redis, key: string, limit: number, windowSeconds: number, what: string): Promise<void> {
  const counter = `limit:${key}`;
  const [[, used], [, ttl]] = (await redis.multi().incr(counter).ttl(counter).exec()) as [[null, number], [null, number]];
  if (ttl < 0) await redis.expire(counter, windowSeconds);
  if (used > limit) {
    const retryAt = new Date(Date.now() + Math.max(ttl, 1) * 1000);
    throw new DomainError('CONFLICT', `At most ${limit} ${what} per ${windowSeconds} s: try again from ${retryAt.toISOString()}.`);
  }
}

/** Deletes the lock only while it still holds this holder's token (it may have expired and been taken meanwhile). */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const POLL_MS = 50;

/**
 * Runs `work` while holding the Redis lock `key` (for at most `holdMs`), waiting up to `waitMs` for another holder
 * to let go; still held then: CONFLICT. Nothing in the control database stays locked meanwhile, so remote work under
 * it (a pool across the network, a slow hash) holds none of the daemon's connections.
 */
export async function withRedisLock<T>(
  redis: Redis,
  key: string,
  options: { holdMs: number; waitMs: number; busy: string },
  work: () => Promise<T>,
): Promise<T> {
  const token = randomUUID();
  const lock = `lock:${key}`;
  for (const deadline = Date.now() + options.waitMs; ; await sleep(POLL_MS)) {
    if ((await redis.set(lock, token, 'PX', options.holdMs, 'NX')) === 'OK') break;
    if (Date.now() >= deadline) throw new DomainError('CONFLICT', options.busy);
  }
  try {
    return await work();
  } finally {
    await redis.eval(RELEASE, 1, lock, token).catch(() => undefined);
  }
}
