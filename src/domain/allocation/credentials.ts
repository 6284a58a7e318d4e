import type { Redis } from 'ioredis';
import { credentialsKey } from '../names.js';

/** What provisioning needs to point Odoo at its database. Lives only in Redis (with a TTL) and in memory. */
export interface DbCredentials {
  db_host: string;
  db_port: number;
  db_name: string;
  db_user: string;
  db_password: string;
}

export async function storeCredentials(redis: Redis, instanceId: string, credentials: DbCredentials, ttlSeconds: number) {
  await redis.set(credentialsKey(instanceId), JSON.stringify(credentials), 'EX', ttlSeconds);
}

export async function readCredentials(redis: Redis, instanceId: string): Promise<DbCredentials | null> {
  const stored = await redis.get(credentialsKey(instanceId));
  return stored === null ? null : (JSON.parse(stored) as DbCredentials);
}

export async function deleteCredentials(redis: Redis, instanceId: string): Promise<void> {
  await redis.del(credentialsKey(instanceId));
}
