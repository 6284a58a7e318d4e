import { execFileSync } from 'node:child_process';
import type Docker from 'dockerode';
import { eventually } from './eventually.js';

/** A CephFS attribute of a directory (`ceph.dir.rbytes`, `ceph.quota.max_bytes`), as getfattr reads it; null if it has none. */
export function cephAttribute(dir: string, name: string): number | null {
  try {
    return Number(execFileSync('getfattr', ['--only-values', '-n', name, '--', dir], { stdio: ['ignore', 'pipe', 'ignore'] }).toString());
  } catch {
    return null;
  }
}

/** The running container of a service's task (the one Swarm started last). */
export async function runningContainer(docker: Docker, serviceId: string): Promise<string> {
  const found = await eventually(
    () => docker.listContainers({ filters: { label: [`com.docker.swarm.service.id=${serviceId}`], status: ['running'] } }),
    (containers) => containers.length > 0,
    30_000,
  );
  if (!found[0]) throw new Error(`no running container for service ${serviceId}`);
  return found.sort((a, b) => b.Created - a.Created)[0]!.Id;
}

/** Runs a command inside a running container as `user`, as a tenant's own code would; its exit code and output. */
export async function execIn(
  docker: Docker,
  containerId: string,
  command: string[],
  user = '101',
): Promise<{ code: number; output: string }> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: command, User: user, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  await new Promise((resolve) => stream.on('end', resolve));
  const { ExitCode } = await exec.inspect();
  // The multiplexed stream's 8-byte frame headers are left in; the text of each frame reads as it was written.
  return { code: ExitCode ?? -1, output: Buffer.concat(chunks).toString('utf8') };
}
