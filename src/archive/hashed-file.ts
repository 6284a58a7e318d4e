import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

const CHUNK = 64 * 1024;

/**
 * A file read once, front to back, through sha256: ranges of it are handed out in increasing order (say, the files
 * inside a tar archive, for a zip built on the fly) and the bytes between them are read and hashed too, so at the end
 * the whole file's sha256 is known without a second pass. A link in the file's place is not followed.
 */
export class HashedFile {
  private position = 0;
  private readonly hash = createHash('sha256');
  private readonly buffer = Buffer.alloc(CHUNK);

  private constructor(private readonly handle: FileHandle) {}

  static async open(path: string): Promise<HashedFile> {
    return new HashedFile(await open(path, constants.O_RDONLY | constants.O_NOFOLLOW));
  }

  /** Reads up to `end` (exclusive), hashing everything; yields the bytes from `start` on. Ranges must not go back. */
  async *range(start: number, end: number): AsyncGenerator<Buffer> {
    if (start < this.position) throw new Error(`range ${start}-${end} starts before ${this.position}: ranges must go forward`);
    for await (const _skipped of this.read(start));
    yield* this.read(end);
  }

  /** Reads and hashes the rest of the file; the sha256 of the whole file, in hex. */
  async digest(): Promise<string> {
    for await (const _rest of this.read(Number.MAX_SAFE_INTEGER));
    return this.hash.digest('hex');
  }

  close(): Promise<void> {
    return this.handle.close();
  }

  private async *read(until: number): AsyncGenerator<Buffer> {
    while (this.position < until) {
      const { bytesRead } = await this.handle.read(this.buffer, 0, Math.min(CHUNK, until - this.position), this.position);
      if (bytesRead === 0) {
        if (until === Number.MAX_SAFE_INTEGER) return;
        throw new Error(`the file ended at ${this.position}, before ${until}`);
      }
      const chunk = Buffer.from(this.buffer.subarray(0, bytesRead));
      this.hash.update(chunk);
      this.position += bytesRead;
      yield chunk;
    }
  }
}
