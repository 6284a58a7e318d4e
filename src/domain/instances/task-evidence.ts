import type { Deps } from '../../deps.js';
import type { SwarmTask } from '../../swarm/docker-types.js';
import { lastHealthOutput, taskLogTail } from '../../swarm/swarm.js';

const LOG_LINES = 3;

/**
 * Why a task of a tenant's Odoo ended, beyond Docker's task status: its last health check's output (a task Swarm
 * stopped as unhealthy says nothing else: `complete`, exit code 0) and its last log lines. A task stopped before its
 * container recorded a check borrows the output of the service's newest task that has one. Each part is left out when
 * Docker cannot give it.
 */
export async function taskEvidence(deps: Pick<Deps, 'docker'>, tasks: SwarmTask[], taskId: string): Promise<string> {
  const task = tasks.find((candidate) => candidate.ID === taskId);
  const newestFirst = [...tasks].sort((a, b) => Date.parse(b.Status.Timestamp) - Date.parse(a.Status.Timestamp));
  const containers = [task, ...newestFirst.filter((other) => other !== task)].flatMap(
    (candidate) => candidate?.Status.ContainerStatus?.ContainerID ?? [],
  );
  const [health, log] = await Promise.all([
    firstHealthOutput(deps, containers),
    taskLogTail(deps.docker, taskId, LOG_LINES).catch(() => ''),
  ]);
  return [health && `health check: ${health}`, log && `log: ${log}`].filter(Boolean).join('; ');
}

async function firstHealthOutput(deps: Pick<Deps, 'docker'>, containerIds: string[]): Promise<string> {
  for (const containerId of containerIds) {
    const output = await lastHealthOutput(deps.docker, containerId);
    if (output) return output;
  }
  return '';
}
