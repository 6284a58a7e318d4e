import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `read` until `done` holds or the time is up; returns the last value read (the caller asserts on it). A read
 * that fails is read again, as a client polling would; if the time runs out on a failure, that failure is thrown.
 */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await read();
      if (done(value) || Date.now() > deadline) return value;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await sleep(everyMs);
  }
}
