import { execFile } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A command that gave no answer in time; its process was killed. */
export class CommandTimeout extends Error {
  override readonly name = 'CommandTimeout';
}

/**
 * Runs a command in a process of its own and gives its exit code and output, whatever the code. Storage whose MDS or
 * OSD is gone makes a file operation block, not fail: in a child it is killed at `timeoutMs`, where in the daemon it
 * would hold one of libuv's four threads for as long as storage is away.
 */
export function runCommand(file: string, args: string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error && (error as { killed?: boolean }).killed) {
        reject(new CommandTimeout(`${file} gave no answer within ${timeoutMs} ms`));
        return;
      }
      const code = error ? error.code : 0;
      // Not a status: the command could not be run (ENOENT: it is not installed).
      if (typeof code !== 'number') {
        reject(new Error(`cannot run ${file}: ${error?.message}`));
        return;
      }
      resolve({ code, stdout, stderr });
    });
  });
}
