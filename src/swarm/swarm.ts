import { setTimeout as sleep } from 'node:timers/promises';
/**
 * The Docker calls the daemon makes, over dockerode. @types/dockerode describes list results as dockerode
 * handles, but Docker answers with plain JSON objects: ours are typed by docker-types.ts.
 */
import type Docker from 'dockerode';
import type { ServiceSpec, SwarmSecret, SwarmService, SwarmTask, TaskState } from './docker-types.js';
import { labelFilters, type Labels } from './labels.js';

/** dockerode rejects with an Error carrying the HTTP status Docker answered with. */
export const hasStatusCode = (error: unknown, statusCode: number): boolean =>
  typeof error === 'object' && error !== null && (error as { statusCode?: unknown }).statusCode === statusCode;

const ignoreNotFound = (error: unknown): void => {
  if (!hasStatusCode(error, 404)) throw error;
};

export interface EnsuredSecret {
  id: string;
  name: string;
  created: boolean;
}

/** Docker's `name` filter matches prefixes: the exact name is picked here. */
export async function findSecretByName(docker: Docker, name: string): Promise<SwarmSecret | undefined> {
  const secrets = (await docker.listSecrets({ filters: { name: [name] } })) as unknown as SwarmSecret[];
  return secrets.find((secret) => secret.Spec.Name === name);
}

/**
 * Creates the secret unless one of that name exists. An existing secret is returned as is: Docker secrets are
 * immutable, so its data may differ from `data`. `data` never reaches a log or an error message.
 */
export async function ensureSecret(docker: Docker, name: string, data: string, labels: Labels): Promise<EnsuredSecret> {
  const existing = await findSecretByName(docker, name);
  if (existing) return { id: existing.ID, name, created: false };
  try {
    const secret = (await docker.createSecret({
      Name: name,
      Labels: labels,
      Data: Buffer.from(data).toString('base64'),
    })) as Docker.Secret;
    return { id: secret.id, name, created: true };
  } catch (error) {
    // A concurrent call created it between our read and our create.
    if (!hasStatusCode(error, 409)) throw error;
    const winner = await findSecretByName(docker, name);
    if (!winner) throw new Error(`secret ${name} was created and removed concurrently`, { cause: error });
    return { id: winner.ID, name, created: false };
  }
}

/** Docker's `name` filter matches prefixes: the exact name is picked here. */
export async function findServiceByName(docker: Docker, name: string): Promise<SwarmService | undefined> {
  const services = (await docker.listServices({ filters: { name: [name] } })) as unknown as SwarmService[];
  return services.find((service) => service.Spec.Name === name);
}

/** Creates the service and returns its id; a service of that name already there (an earlier try) is reused. */
export async function createService(docker: Docker, spec: ServiceSpec): Promise<string> {
  try {
    // An explicit empty auth: given the spec alone, dockerode would send it as the registry auth header.
    const service = await docker.createService({}, spec);
    return service.id;
  } catch (error) {
    if (!hasStatusCode(error, 409)) throw error;
    const existing = await findServiceByName(docker, spec.Name);
    if (!existing) throw new Error(`service ${spec.Name} was created and removed concurrently`, { cause: error });
    return existing.ID;
  }
}

/** Removes the service by id or name; one already gone is fine. */
export async function removeService(docker: Docker, idOrName: string): Promise<void> {
  await docker.getService(idOrName).remove().catch(ignoreNotFound);
}

/**
 * Removes a one-shot job's service and the containers its tasks left. Swarm (Engine 20.10) removes a replicated
 * service's containers with it, but not those of a job's completed tasks: without this every init or backup would
 * leave an exited container behind. Only this Docker host's containers can be seen; the daemon runs on a manager.
 */
export async function removeJob(docker: Docker, idOrName: string): Promise<void> {
  const service = (await docker.getService(idOrName).inspect().catch(ignoreNotFound)) as SwarmService | undefined;
  if (!service) return;
  await removeService(docker, service.ID);
  const containers = await docker.listContainers({ all: true, filters: { label: [`com.docker.swarm.service.id=${service.ID}`] } });
  // With its anonymous volumes: the pool image declares one for its data directory, which a job never uses.
  for (const container of containers) await docker.getContainer(container.Id).remove({ force: true, v: true }).catch(ignoreNotFound);
}

/**
 * Removes the service and waits (up to `timeoutMs`) until its containers are gone, so nothing still writes to what
 * it mounted (a pool's data directory) and its secret is free to remove.
 */
export async function removeServiceAndWait(docker: Docker, name: string, timeoutMs: number): Promise<void> {
  await removeService(docker, name);
  const filters = { label: [`com.docker.swarm.service.name=${name}`] };
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(250)) {
    if ((await docker.listContainers({ all: true, filters })).length === 0) return;
  }
  throw new Error(`the containers of service ${name} were still there ${timeoutMs} ms after it was removed`);
}

/** Removes the secret by id or name; one already gone is fine. Docker refuses while a service still uses it. */
export async function removeSecret(docker: Docker, idOrName: string): Promise<void> {
  await docker.getSecret(idOrName).remove().catch(ignoreNotFound);
}

export async function listServices(docker: Docker, labels: Labels): Promise<SwarmService[]> {
  return (await docker.listServices({ filters: labelFilters(labels) })) as unknown as SwarmService[];
}

/** The service's tasks, or null when the service is gone. */
export async function serviceTasks(docker: Docker, serviceName: string): Promise<SwarmTask[] | null> {
  try {
    await docker.getService(serviceName).inspect();
  } catch (error) {
    if (hasStatusCode(error, 404)) return null;
    throw error;
  }
  return (await docker.listTasks({ filters: { service: [serviceName] } })) as SwarmTask[];
}

export async function listSecrets(docker: Docker, labels: Labels): Promise<SwarmSecret[]> {
  return (await docker.listSecrets({ filters: labelFilters(labels) })) as unknown as SwarmSecret[];
}

/** How many nodes the swarm has. */
export async function swarmNodeCount(docker: Docker): Promise<number> {
  return (await docker.listNodes()).length;
}

/**
 * Tasks of the services carrying `labels`. Swarm matches a task's `label` filter against the labels its service
 * had when the task was created (swarmkit's `Task.ServiceAnnotations`), not against container labels; the
 * daemon never changes a service's identifying labels, so one call is exact and has no race with removal.
 */
export async function listTasks(docker: Docker, labels: Labels): Promise<SwarmTask[]> {
  return (await docker.listTasks({ filters: labelFilters(labels) })) as SwarmTask[];
}

/** The tasks of the services carrying `labels`, by service id: one listing for every service a job follows. */
export async function listTasksByService(docker: Docker, labels: Labels): Promise<Map<string, SwarmTask[]>> {
  const byService = new Map<string, SwarmTask[]>();
  for (const task of await listTasks(docker, labels)) byService.set(task.ServiceID, [...(byService.get(task.ServiceID) ?? []), task]);
  return byService;
}

/** dockerode has Task#logs; @types/dockerode, written for dockerode 4, does not declare it. */
interface TaskLogs {
  logs(options: { stdout: boolean; stderr: boolean; tail: number }): Promise<unknown>;
}

/** The last `lines` lines the task's container wrote to stdout and stderr: often the reason it failed. */
export async function taskLogTail(docker: Docker, taskId: string, lines: number): Promise<string> {
  const task = docker.getTask(taskId) as Docker.Task & TaskLogs;
  const raw = await task.logs({ stdout: true, stderr: true, tail: lines });
  return Buffer.isBuffer(raw) ? demultiplexLogs(raw).trim() : '';
}

/**
 * What the container's last health check printed (Docker keeps the last five checks with the container), or '' when
 * the container is not on this Docker host or has no health check.
 */
/**
 * The output of the container's last health check that said something: a check cut short as Swarm stops the task
 * leaves an empty entry after the one that explains why.
 */
export async function lastHealthOutput(docker: Docker, containerId: string): Promise<string> {
  const container = (await docker
    .getContainer(containerId)
    .inspect()
    .catch(() => null)) as { State?: { Health?: { Log?: { Output?: string }[] } } } | null;
  const outputs = (container?.State?.Health?.Log ?? []).map((check) => (check.Output ?? '').trim()).filter(Boolean);
  return outputs.at(-1) ?? '';
}

/** Without a TTY, Docker frames each log chunk: a stream byte, three zero bytes, the length (uint32 BE), the bytes. */
function demultiplexLogs(raw: Buffer): string {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset + 8 <= raw.length;) {
    const length = raw.readUInt32BE(offset + 4);
    chunks.push(raw.subarray(offset + 8, offset + 8 + length));
    offset += 8 + length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Applies `change` to the service's current spec; Docker's version check turns a concurrent update into a retry. */
async function updateService(docker: Docker, idOrName: string, change: (spec: ServiceSpec) => ServiceSpec): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const service = docker.getService(idOrName);
    const current = (await service.inspect()) as SwarmService;
    try {
      await service.update({ ...change(current.Spec), version: current.Version.Index });
      return;
    } catch (error) {
      // "update out of sequence": someone updated it between our read and our write.
      if (attempt >= 3 || !(hasStatusCode(error, 500) || hasStatusCode(error, 409))) throw error;
    }
  }
}

/** Sets the replica count of a replicated service (0 stops it, 1 starts it); one already at that count is left alone. */
export async function scaleService(docker: Docker, idOrName: string, replicas: number): Promise<void> {
  // The count is read first: scaling to what it already is would make Swarm record an update for nothing.
  const current = (await docker.getService(idOrName).inspect()) as SwarmService;
  if (current.Spec.Mode && 'Replicated' in current.Spec.Mode && current.Spec.Mode.Replicated.Replicas === replicas) return;
  await updateService(docker, idOrName, (spec) => ({ ...spec, Mode: { Replicated: { Replicas: replicas } } }));
}

const endedTaskStates = new Set<TaskState>(['complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned']);

/** The service's tasks that still run or are about to (a task being stopped runs until it has stopped); none once it is gone. */
export async function liveTasks(docker: Docker, serviceName: string): Promise<SwarmTask[]> {
  const tasks = (await docker.listTasks({ filters: { service: [serviceName] } }).catch((error: unknown) => {
    ignoreNotFound(error);
    return [];
  })) as SwarmTask[];
  return tasks.filter((task) => !endedTaskStates.has(task.Status.State));
}

/** What of a service's task `updateTask` replaces (each part only when given). */
export interface TaskUpdate {
  image?: string;
  env?: string[];
  command?: string[];
  args?: string[];
  resources?: NonNullable<ServiceSpec['TaskTemplate']['Resources']>;
  /** Replace the task even if nothing changed (a restart). */
  force?: boolean;
  replicas?: number;
}

/**
 * Updates the service's task in one update: Swarm replaces the running task when its spec changed (or when forced).
 * What is not given is kept.
 */
export async function updateTask(docker: Docker, idOrName: string, update: TaskUpdate): Promise<void> {
  await updateService(docker, idOrName, (spec) => {
    const { TaskTemplate: task } = spec;
    const container = task.ContainerSpec;
    return {
      ...spec,
      ...(update.replicas === undefined ? {} : { Mode: { Replicated: { Replicas: update.replicas } } }),
      TaskTemplate: {
        ...task,
        ...(update.resources ? { Resources: update.resources } : {}),
        ...(update.force ? { ForceUpdate: (task.ForceUpdate ?? 0) + 1 } : {}),
        ContainerSpec: {
          ...container,
          ...(update.image ? { Image: update.image } : {}),
          ...(update.env ? { Env: update.env } : {}),
          ...(update.command ? { Command: update.command } : {}),
          ...(update.args ? { Args: update.args } : {}),
        },
      },
    };
  });
}
