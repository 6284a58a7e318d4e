import { execFile } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A command that gave no answer in time. */
export class CommandTimeout extends Error {
  override readonly name = 'CommandTimeout';
}

export interface StartedCommand {
  /** Its exit code and output, whatever the code; rejects with CommandTimeout at the timeout. */
  result: Promise<CommandResult>;
  /** When its process is gone: maybe long after the timeout (see runCommand). */
  exited: Promise<void>;
}

/**
 * Starts a command in a process of its own. A file operation on CephFS whose MDS or OSD is gone blocks, it does not
 * fail, and once ceph-fuse has the request even SIGKILL waits for the answer: in a child, only the child waits (the
 * caller gets CommandTimeout), where in the daemon it would hold one of libuv's four threads until storage is back.
 */
export function startCommand(file: string, args: string[], timeoutMs: number): StartedCommand {
  let exited!: () => void;
  const gone = new Promise<void>((resolve) => (exited = resolve));
  const result = new Promise<CommandResult>((resolve, reject) => {
    const child = execFile(file, args, { maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      clearTimeout(timer);
      exited();
      const code = error ? error.code : 0;
      // Not a status: the command could not be run (ENOENT: it is not installed).
      if (typeof code !== 'number') reject(new Error(`cannot run ${file}: ${error?.message}`));
      else resolve({ code, stdout, stderr });
    });
    child.once('close', () => exited());
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new CommandTimeout(`${file} gave no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  return { result, exited: gone };
}

export const runCommand = (file: string, args: string[], timeoutMs: number): Promise<CommandResult> =>
  startCommand(file, args, timeoutMs).result;
