import { rm } from 'node:fs/promises';
import type { InstanceRow } from '../../db/schema.js';
import { isUuid } from '../names.js';
import type { Deps } from '../../deps.js';
import { exportsDir, pgpassLine, type PoolReach } from '../../swarm/backup-job.js';
import { containerState, nodeContainers, removeContainer } from '../../swarm/containers.js';
import type { ServiceSpec, SwarmService, SwarmTask } from '../../swarm/docker-types.js';
import { labelKeys, managedLabels, roleLabels } from '../../swarm/labels.js';
import {
  createService,
  ensureSecret,
  findServiceByName,
  listSecrets,
  listServices,
  removeJob,
  removeSecret,
  serviceTasks,
  taskLogTail,
} from '../../swarm/swarm.js';
import { repairTenantLogin, storedLogin } from '../instances/tenant-login.js';

export type JobVerdict = { kind: 'done' } | { kind: 'failed'; reason: string; taskId: string | null } | { kind: 'pending' };

/**
 * A job's task as Swarm reports it, marked when its container already exited with 0 on this node: Swarm records the
 * task's end a few hundred milliseconds after its container's.
 */
export type JobTask = SwarmTask & { containerExitedCleanly?: boolean };

const ended = new Set(['complete', 'failed', 'rejected', 'orphaned', 'shutdown', 'remove']);

/**
 * Pure: a one-shot job (no restarts) is done once a task completed (or its container exited with 0), failed once
 * one failed or the deadline passed.
 */
export function judgeJob(tasks: JobTask[], deadline: Date, now: Date): JobVerdict {
  const done = (task: JobTask) => task.Status.State === 'complete' || (!ended.has(task.Status.State) && task.containerExitedCleanly);
  if (tasks.some(done)) return { kind: 'done' };
  const failed = tasks.find((task) => ['failed', 'rejected', 'orphaned'].includes(task.Status.State));
  if (failed) {
    const exit = failed.Status.ContainerStatus?.ExitCode;
    const reason = [failed.Status.Err ?? failed.Status.Message, exit !== undefined ? `exit code ${exit}` : null].filter(Boolean).join(', ');
    return { kind: 'failed', reason: `job ${failed.Status.State}: ${reason}`, taskId: failed.ID };
  }
  if (now >= deadline) return { kind: 'failed', reason: 'job did not finish before its deadline', taskId: tasks[0]?.ID ?? null };
  return { kind: 'pending' };
}

/**
 * Where the job reaches the instance's pool (the address its Odoo uses) and the pgpass secret, made for this job, of the
 * tenant's maintenance login: a job never holds the pool admin's password. The login is set on the pool again first
 * (the tenant may have changed its password from a session of it), so the job finds it as the secret says.
 */
export async function poolReach(deps: Deps, instance: InstanceRow, jobName: string): Promise<PoolReach> {
  if (!instance.db_host) throw new Error(`instance ${instance.id} has no database`);
  const { login } = await storedLogin(deps, instance.id);
  const [secret] = await Promise.all([
    ensureSecret(
      deps.docker,
      `${jobName}-pgpass`,
      pgpassLine(login.user, login.password),
      roleLabels(instance.id, 'backup', deps.config.dockerLabels),
    ),
    repairTenantLogin(deps, instance, login),
  ]);
  return {
    host: instance.db_host,
    port: instance.db_port ?? 5432,
    user: login.user,
    secret: { id: secret.id, name: secret.name },
  };
}

export const startJob = (deps: Pick<Deps, 'docker'>, spec: ServiceSpec): Promise<string> => createService(deps.docker, spec);

type JobDeps = Pick<Deps, 'docker' | 'containerExits'>;

/** The job's tasks, or null when its service is gone; one Swarm still counts as under way is marked once its container exited with 0. */
export async function jobTasks(deps: JobDeps, serviceName: string): Promise<JobTask[] | null> {
  const tasks = await serviceTasks(deps.docker, serviceName);
  return tasks && Promise.all(tasks.map((task) => withCleanExit(deps, task)));
}

/**
 * Marks a task whose container exited with 0; only this node's containers can be seen, the others wait for Swarm. The
 * exit code comes from Docker's `die` event when the event stream caught it; else from an inspect, which answers only
 * once the container's clean-up is done (~90 ms after the event here; a container list shows it later still). A
 * container that failed waits for Swarm, whose task says why.
 */
async function withCleanExit(deps: JobDeps, task: SwarmTask): Promise<JobTask> {
  const containerId = task.Status.ContainerStatus?.ContainerID;
  if (!containerId || ended.has(task.Status.State)) return task;
  const exitCode = deps.containerExits.exitCode(containerId) ?? (await inspectedExitCode(deps, containerId));
  return exitCode === 0 ? { ...task, containerExitedCleanly: true } : task;
}

async function inspectedExitCode(deps: Pick<Deps, 'docker'>, containerId: string): Promise<number | undefined> {
  const state = await containerState(deps.docker, containerId);
  return state?.status === 'exited' ? state.exitCode : undefined;
}

/** A failed job's reason with the last lines it wrote (pg_dump's and tar's errors say what went wrong). */
export async function failureWithLog(deps: Pick<Deps, 'docker'>, verdict: { reason: string; taskId: string | null }): Promise<string> {
  const tail = verdict.taskId ? await taskLogTail(deps.docker, verdict.taskId, 5).catch(() => '') : '';
  return tail ? `${verdict.reason}; log: ${tail}` : verdict.reason;
}

/** Removes the job's service, its containers and its secret; Docker may still count a just-removed service as the secret's user. */
export async function removeJobAndSecret(deps: Pick<Deps, 'docker' | 'log'>, serviceName: string): Promise<void> {
  await removeJob(deps.docker, serviceName);
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      await removeSecret(deps.docker, `${serviceName}-pgpass`);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  deps.log.warn({ event: 'backup.secret_left', service: serviceName }, 'job secret still in use; removed on a later run');
}

/** A job's secret is made just before its job: one older than this without its job was left by a removal that failed. */
const ORPHAN_SECRET_SECONDS = 600;

/** Removes job secrets whose job is gone (the removal after the job failed, or the daemon stopped in between). */
export async function removeOrphanJobSecrets(deps: Pick<Deps, 'docker' | 'config' | 'log'>, now = new Date()): Promise<void> {
  // The daemon's extra labels narrow the sweep to what this deployment (or test run) made.
  const labels = { ...deps.config.dockerLabels, [labelKeys.managed]: 'true', [labelKeys.role]: 'backup' };
  const secrets = await listSecrets(deps.docker, labels);
  for (const secret of secrets) {
    const job = secret.Spec.Name.replace(/-pgpass$/, '');
    if (job === secret.Spec.Name || Date.parse(secret.CreatedAt ?? '') > now.getTime() - ORPHAN_SECRET_SECONDS * 1000) continue;
    if (await findServiceByName(deps.docker, job)) continue;
    await removeSecret(deps.docker, secret.ID).catch((error: Error) =>
      deps.log.debug({ event: 'backup.secret_left', secret: secret.Spec.Name, reason: error.message }),
    );
  }
}

/** One-shot jobs' roles: their containers stay once they ended, for the daemon to remove with the job. */
const jobRoles = new Set(['init', 'backup', 'restore', 'template', 'modules', 'check']);
const SERVICE_ID_LABEL = 'com.docker.swarm.service.id';

/**
 * Removes the containers of one-shot jobs whose service is gone: a job removed just as Swarm created its task's
 * container (a restore failing at once, a download's export ending) leaves it behind for good, created, exited, or
 * even running what nobody follows any more.
 */
export async function removeOrphanJobContainers(deps: Pick<Deps, 'docker' | 'config' | 'log'>): Promise<void> {
  const labels = managedLabels(deps.config.dockerLabels);
  // Containers first: a service made after this listing has no container in it, so none is taken for an orphan.
  const containers = await nodeContainers(deps.docker, labels, { all: true });
  const live = new Set((await listServices(deps.docker, labels)).map((service) => service.ID));
  for (const container of containers) {
    const service = container.labels[SERVICE_ID_LABEL];
    if (!service || live.has(service) || !jobRoles.has(container.labels[labelKeys.role] ?? '')) continue;
    await removeContainer(deps.docker, container.id).catch((error: Error) =>
      deps.log.debug({ event: 'backup.container_left', container: container.id, reason: error.message }),
    );
  }
}

/** A download's plain-SQL export job: named after the export, which has no row (it lives as long as its download). */
export const exportJobName = (exportId: string) => `ex-${exportId}`;

/** The files an export leaves in the instance's backups directory, finished or not. */
export const exportLeftovers = (cephfsRoot: string, instanceId: string, exportId: string): string[] => [
  `${exportsDir(cephfsRoot, instanceId)}/${exportId}.sql`,
  `${exportsDir(cephfsRoot, instanceId)}/${exportId}.sql.partial`,
];

/** An export job this old belongs to no download still running (the export's own deadline is half of it). */
const EXPORT_LEFTOVER_SECONDS = 3600;

/** The rows a backup's (`bk-`), restore's (`rs-`) or module change's (`mc-`) job is named after; an export's (`ex-`) has none. */
const JOB_NAME = /^(bk|rs|mc|ex)-(.+)$/;
const jobTables = { bk: 'backups', rs: 'restores', mc: 'module_changes' } as const;

/**
 * Removes the jobs of backups, restores and module changes that ended (or whose row is gone): a job is removed just after its end is
 * recorded, and a daemon stopped in between leaves it behind. An export job left by a download that never finished
 * (the daemon stopped) goes with the SQL file it wrote, once no download can still be reading it.
 */
export async function removeEndedJobs(deps: Pick<Deps, 'docker' | 'config' | 'log' | 'db'>, now = new Date()): Promise<void> {
  const labels = { ...deps.config.dockerLabels, [labelKeys.managed]: 'true' };
  for (const service of await listServices(deps.docker, labels)) {
    const match = JOB_NAME.exec(service.Spec.Name);
    if (!match || !isUuid(match[2]!)) continue;
    if (match[1] === 'ex') {
      await removeExportLeftover(deps, service, match[2]!, now);
      continue;
    }
    const row = await deps.db
      .selectFrom(jobTables[match[1] as keyof typeof jobTables])
      .select('status')
      .where('id', '=', match[2]!)
      .executeTakeFirst();
    if (row && row.status !== 'COMPLETED' && row.status !== 'FAILED') continue;
    await removeJobAndSecret(deps, service.Spec.Name).catch((error: Error) =>
      deps.log.warn({ event: 'backup.job_left', service: service.Spec.Name, reason: error.message }, 'ended job not removed'),
    );
  }
}

async function removeExportLeftover(deps: Pick<Deps, 'docker' | 'config' | 'log'>, service: SwarmService, exportId: string, now: Date) {
  const instanceId = service.Spec.Labels[labelKeys.instanceId];
  if (!instanceId || !isUuid(instanceId) || Date.parse(service.CreatedAt) > now.getTime() - EXPORT_LEFTOVER_SECONDS * 1000) return;
  try {
    for (const path of exportLeftovers(deps.config.cephfsRoot, instanceId, exportId)) await rm(path, { force: true });
    await removeJobAndSecret(deps, service.Spec.Name);
    deps.log.info({ event: 'backup.export_swept', instanceId, exportId }, 'export left by an unfinished download removed');
  } catch (error) {
    deps.log.warn(
      { event: 'backup.job_left', service: service.Spec.Name, reason: (error as Error).message },
      'export leftover not removed',
    );
  }
}
