import type { DbCredentials } from '../../src/domain/credentials.js';
import { readCredentials } from '../../src/domain/credentials.js';
import { CREATE_INSTANCE, eventually, instanceInput, type TestDaemon } from './harness.js';

export const PROVISION = `mutation($id: ID!) { provisionInstance(instanceId: $id) { id status serviceName error } }`;
export const INSTANCE = `query($id: ID!) { instance(id: $id) { id status serviceName error statusChangedAt } }`;
export const RESTART = `mutation($id: ID!) { restartInstance(instanceId: $id) { id status } }`;

export interface InstanceView {
  id: string;
  status: string;
  serviceName: string | null;
  error: string | null;
  statusChangedAt: string;
}

/** An allocated instance and the credentials allocation left in Redis (read before provisioning takes them). */
export async function allocatedInstance(daemon: TestDaemon): Promise<{ id: string; credentials: DbCredentials }> {
  const created = await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ memoryLimit: '512M', cpuLimit: 0.5 }) });
  const instance = created.data?.createInstance;
  if (instance?.status !== 'ALLOCATED') throw new Error(`instance not allocated: ${JSON.stringify(created)}`);
  return { id: instance.id, credentials: (await readCredentials(daemon.deps.redis, instance.id))! };
}

/** Polls the instance over GraphQL until it leaves PROVISIONING (or `timeoutMs` passes). */
export async function settledInstance(daemon: TestDaemon, id: string, timeoutMs = 120_000): Promise<InstanceView> {
  return eventually(
    async () => (await daemon.gql(INSTANCE, { id })).data.instance as InstanceView,
    (instance) => instance.status !== 'PROVISIONING',
    timeoutMs,
    250,
  );
}

/** The instance's status, as a client reads it. */
export const statusOf = async (daemon: TestDaemon, id: string): Promise<string> =>
  (await daemon.gql(INSTANCE, { id })).data.instance.status as string;
