import { closeDeps, connectDeps, startDaemon } from '../../src/daemon.js';
import type { DbCredentials } from '../../src/domain/allocation/credentials.js';
import { readCredentials } from '../../src/domain/allocation/credentials.js';
import { createLogger } from '../../src/logger.js';
import { CREATE_INSTANCE, dataField, eventually, instanceInput, type TestDaemon } from './harness.js';
import { latestReason } from '../../src/domain/instances/instance-conditions.js';

export const PROVISION = `mutation($id: ID!) { provisionInstance(instanceId: $id) { id status serviceName error } }`;
export const INSTANCE = `query($id: ID!) { instance(id: $id) { id status serviceName error conditions { phase reason since } statusChangedAt } }`;
export const RESTART = `mutation($id: ID!) { restartInstance(instanceId: $id) { id status } }`;

export interface InstanceView {
  id: string;
  status: string;
  serviceName: string | null;
  error: string | null;
  conditions: { phase: string; reason: string; since: string }[];
  statusChangedAt: string;
}

/** An allocated instance and the credentials allocation left in Redis (read before provisioning takes them). */
export async function allocatedInstance(daemon: TestDaemon): Promise<{ id: string; credentials: DbCredentials }> {
  const created = await daemon.gql(CREATE_INSTANCE, { input: instanceInput({ memoryLimit: '512M', cpuLimit: 0.5 }) });
  const instance = created.data?.createInstance;
  if (instance?.status !== 'ALLOCATED') throw new Error(`instance not allocated: ${JSON.stringify(created)}`);
  return { id: instance.id, credentials: (await readCredentials(daemon.deps.redis, instance.id))! };
}

const TERMINATE = 'mutation($id: ID!) { terminateInstance(instanceId: $id) { id status error } }';

/**
 * Terminates the instance (as `token`'s caller, the admin by default) and waits until it reads TERMINATED: the call
 * answers TERMINATING at once and the reconciler takes the final backup and the removal. Returns the call's answer too.
 */
export async function terminatedInstance(
  daemon: TestDaemon,
  id: string,
  options: { token?: string; timeoutMs?: number } = {},
): Promise<{ answered: InstanceView; terminated: InstanceView }> {
  const answered = dataField<InstanceView>(
    await daemon.gql(TERMINATE, { id }, options.token ? { token: options.token } : {}),
    'terminateInstance',
  );
  const terminated = await instanceWithStatus<InstanceView>(daemon, id, 'TERMINATED', { timeoutMs: options.timeoutMs });
  return { answered, terminated };
}

/** Polls the instance over GraphQL until it leaves PROVISIONING (or `timeoutMs` passes). */
export async function settledInstance(daemon: TestDaemon, id: string, timeoutMs = 120_000): Promise<InstanceView> {
  return eventually(
    async () => dataField<InstanceView>(await daemon.gql(INSTANCE, { id }), 'instance'),
    (instance) => instance.status !== 'PROVISIONING',
    timeoutMs,
    250,
  );
}

/** Polls the instance over GraphQL (with `query`, INSTANCE by default) until it reads `wanted` (or `timeoutMs` passes). */
export async function instanceWithStatus<T extends { status: string }>(
  daemon: TestDaemon,
  id: string,
  wanted: string,
  options: { query?: string; timeoutMs?: number } = {},
): Promise<T> {
  return eventually(
    async () => dataField<T>(await daemon.gql(options.query ?? INSTANCE, { id }), 'instance'),
    (instance) => instance.status === wanted,
    options.timeoutMs ?? 120_000,
    100,
  );
}

/**
 * Starts a second daemon on the first one's config (as after a restart: its own handles, silent), waits until it
 * moves the instance out of PROVISIONING, stops it, and returns the row's status and what went wrong last.
 */
export async function settledBySuccessor(
  daemon: TestDaemon,
  id: string,
  timeoutMs: number,
): Promise<{ status: string; error: string | null }> {
  const successor = connectDeps({ ...daemon.deps.config, port: 0 }, createLogger('silent'));
  const second = await startDaemon(successor);
  try {
    const row = await eventually(
      () => successor.db.selectFrom('instances').select(['status', 'conditions']).where('id', '=', id).executeTakeFirstOrThrow(),
      (current) => current.status !== 'PROVISIONING',
      timeoutMs,
    );
    return { status: row.status, error: latestReason(row.conditions) };
  } finally {
    await second.stop();
    await closeDeps(successor);
  }
}

/** The instance's status, as a client reads it. */
export const statusOf = async (daemon: TestDaemon, id: string): Promise<string> =>
  (await daemon.gql(INSTANCE, { id })).data.instance.status as string;
