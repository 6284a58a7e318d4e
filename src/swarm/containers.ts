import type Docker from 'dockerode';
import { labelFilters, type Labels } from './labels.js';

/** A container on this node, as listed: its id and labels. */
export interface NodeContainer {
  id: string;
  labels: Record<string, string>;
}

/** This node's containers carrying `labels`: running ones only, or (`all`) stopped and created ones too. */
export async function nodeContainers(docker: Docker, labels: Labels, options: { all: boolean }): Promise<NodeContainer[]> {
  const filters = options.all ? labelFilters(labels) : { ...labelFilters(labels), status: ['running'] };
  const containers = await docker.listContainers({ all: options.all, filters });
  return containers.map((container) => ({ id: container.Id, labels: container.Labels }));
}

/** The container's state (its main process and, once exited, its exit code); null when it cannot be inspected. */
export async function containerState(docker: Docker, id: string): Promise<{ pid: number; status: string; exitCode: number } | null> {
  const state = (
    await docker
      .getContainer(id)
      .inspect()
      .catch(() => null)
  )?.State;
  return state ? { pid: state.Pid, status: state.Status, exitCode: state.ExitCode } : null;
}

/** Removes the container and its anonymous volumes, running or not. */
export const removeContainer = (docker: Docker, id: string): Promise<unknown> => docker.getContainer(id).remove({ force: true, v: true });
