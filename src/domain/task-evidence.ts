import type { Deps } from '../deps.js';
import type { SwarmTask } from '../swarm/docker-types.js';
import { lastHealthOutput, taskLogTail } from '../swarm/swarm.js';

const LOG_LINES = 3;

/**
 * Why a task of a tenant's Odoo ended, beyond Docker's task status: its last health check's output (a task Swarm
 * stopped as unhealthy says nothing else: `complete`, exit code 0) and its last log lines. Each part is left out when
 * Docker cannot give it.
 */
export async function taskEvidence(
  deps: Pick<Deps, 'docker'>,
  task: SwarmTask | undefined,
  taskId: string | null | undefined,
): Promise<string> {
  const id = task?.ID ?? taskId;
  if (!id) return '';
  const containerId = task?.Status.ContainerStatus?.ContainerID;
  const [health, log] = await Promise.all([
    containerId ? lastHealthOutput(deps.docker, containerId) : Promise.resolve(''),
    taskLogTail(deps.docker, id, LOG_LINES).catch(() => ''),
  ]);
  return [health && `health check: ${health}`, log && `log: ${log}`].filter(Boolean).join('; ');
}
