import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { backupKey, chunkSealer, makeHeader, openBuffer, sealedSize } from '../../src/crypto/backup-cipher.js';
import { keptParts, partRange, planParts } from '../../src/domain/offsite/offsite-parts.js';
import { sealedPart } from '../../src/domain/offsite/offsite-upload.js';
import { uploadRetrySeconds } from '../../src/domain/offsite/offsite-uploads.js';

const CHUNK = 1024;
const key = backupKey(randomBytes(32));
const context = 'backup-id/filestore.tar';

describe('off-site parts', () => {
  it('cuts a sealed file into parts of whole chunks (header in part 1), at most 9000 parts however big the file', () => {
    const plan = planParts(10 * 128 * CHUNK + 5, CHUNK);
    assert.deepEqual([plan.chunksPerPart, plan.chunks, plan.parts], [128, 1281, 11]);
    const ranges = Array.from({ length: plan.parts }, (_, index) => partRange(plan, index + 1));
    assert.equal(
      ranges.reduce((total, range) => total + range.sealedBytes, 0),
      sealedSize(plan.size, CHUNK),
    );
    assert.deepEqual(ranges.map((range) => [range.plainStart, range.plainEnd]).slice(-2), [
      [9 * 128 * CHUNK, 10 * 128 * CHUNK],
      [10 * 128 * CHUNK, 10 * 128 * CHUNK + 5],
    ]);
    assert.equal(planParts(0, CHUNK).parts, 1);
    const huge = planParts(200 * 1024 ** 3, 64 * 1024);
    assert.ok(huge.parts <= 9000 && huge.chunksPerPart > 128);
  });

  it('keeps the uploaded parts from part 1 up to the first one missing or cut short', () => {
    const plan = planParts(4 * 128 * CHUNK, CHUNK);
    const part = (partNumber: number, size = partRange(plan, partNumber).sealedBytes) => ({ partNumber, size });
    assert.deepEqual(keptParts(plan, [part(2), part(1), part(4)]), [part(1), part(2)]);
    assert.deepEqual(keptParts(plan, [part(1), part(2, 100), part(3)]), [part(1)]);
    assert.deepEqual(keptParts(plan, [part(2)]), []);
  });

  it('seals parts that open as one file, the same bytes again when an upload resumes half-way', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'offsite-parts-'));
    try {
      const plaintext = randomBytes(3 * 128 * CHUNK + 777);
      await writeFile(join(dir, 'file'), plaintext);
      const handle = await open(join(dir, 'file'), 'r');
      const plan = planParts(plaintext.length, CHUNK);
      const header = makeHeader(key, randomBytes(32), CHUNK);
      const hash = createHash('sha256');
      const parts: Buffer[] = [];
      for (let number = 1; number <= plan.parts; number++)
        parts.push(await sealedPart(handle, plan, chunkSealer(key, context, header), hash, number));
      assert.equal(hash.digest('hex'), createHash('sha256').update(plaintext).digest('hex'));
      assert.deepEqual(await openBuffer(Buffer.concat(parts), [key], context), plaintext);
      const again = await sealedPart(handle, plan, chunkSealer(key, context, header), createHash('sha256'), 3);
      assert.deepEqual(again, parts[2], 'a resumed upload seals a part exactly as the first try did');
      await handle.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('waits longer after each failed upload, up to the maximum', () => {
    assert.deepEqual(
      [1, 2, 3, 10, 100].map((failures) => uploadRetrySeconds(failures, 30, 3600)),
      [30, 60, 120, 3600, 3600],
    );
  });
});
