import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { backupKey, HEADER_BYTES, openBuffer, openChunks, sealBuffer, sealedSize, TAG_BYTES } from '../../src/crypto/backup-cipher.js';

const CHUNK = 1024;
const current = backupKey(randomBytes(32));
const previous = backupKey(randomBytes(32));
const context = '3f6e2a4c-0000-4000-8000-000000000001/dump.custom';

const chunkAt = (index: number) => HEADER_BYTES + index * (CHUNK + TAG_BYTES);

/** Feeds the sealed bytes in pieces of `size`, as a network stream would. */
async function openInPieces(sealed: Buffer, size: number, keyring = [current], name = context): Promise<Buffer> {
  const pieces = Array.from({ length: Math.ceil(sealed.length / size) }, (_, index) => sealed.subarray(index * size, (index + 1) * size));
  const parts: Buffer[] = [];
  for await (const part of openChunks(pieces, keyring, name)) parts.push(part);
  return Buffer.concat(parts);
}

describe('backup encryption (AES-256-GCM, chunked)', () => {
  it('opens what it sealed, whatever the size and however the bytes arrive; the ciphertext shows none of the plaintext', async () => {
    for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17]) {
      const plaintext = Buffer.alloc(size, 'secret partner data ');
      const sealed = sealBuffer(current, context, plaintext, CHUNK);
      assert.equal(sealed.length, sealedSize(size, CHUNK), `size ${size}`);
      assert.ok(size < 20 || !sealed.includes(plaintext.subarray(0, 20)));
      for (const piece of [1, 7, 100, CHUNK + TAG_BYTES, 1 << 20]) assert.deepEqual(await openInPieces(sealed, piece), plaintext);
    }
  });

  it('seals the same file differently each time (a fresh salt, so a fresh key)', () => {
    const plaintext = Buffer.from('same');
    assert.notDeepEqual(sealBuffer(current, context, plaintext, CHUNK), sealBuffer(current, context, plaintext, CHUNK));
  });

  const sealed = sealBuffer(current, context, randomBytes(3 * CHUNK + 100), CHUNK);
  const refused = (bytes: Buffer, pattern: RegExp, keyring = [current], name = context) =>
    assert.rejects(openBuffer(bytes, keyring, name), (error: Error) => error.name === 'BackupCipherError' && pattern.test(error.message));

  it('refuses a flipped bit anywhere: header, ciphertext or tag', async () => {
    for (const offset of [5, 9, 30, HEADER_BYTES + 3, chunkAt(1) + 10, chunkAt(2) - 1, sealed.length - 1]) {
      const altered = Buffer.from(sealed);
      altered[offset]! ^= 0x01;
      await assert.rejects(openBuffer(altered, [current], context), /BackupCipherError|header|chunk/, `offset ${offset}`);
    }
  });

  it('refuses chunks swapped, a chunk dropped, a stream cut at a chunk boundary, and a chunk added', async () => {
    const [a, b, c, d] = [0, 1, 2, 3].map((index) => sealed.subarray(chunkAt(index), index === 3 ? undefined : chunkAt(index + 1)));
    const header = sealed.subarray(0, HEADER_BYTES);
    await refused(Buffer.concat([header, b!, a!, c!, d!]), /chunk 0 does not authenticate/);
    await refused(Buffer.concat([header, a!, c!, d!]), /chunk 1 does not authenticate/);
    await refused(Buffer.concat([header, a!, b!, c!]), /chunk 2 does not authenticate as the last one: the file was cut short/);
    await refused(Buffer.concat([header, a!, b!, c!, d!, a!]), /chunk 3 does not authenticate/);
    await refused(header, /last chunk is missing/);
    await refused(sealed.subarray(0, 20), /not an encrypted backup file/);
  });

  it("refuses an object put in another one's place (the context names the backup and file)", async () => {
    await refused(sealed, /chunk 0/, [current], '3f6e2a4c-0000-4000-8000-000000000002/dump.custom');
    await refused(sealed, /chunk 0/, [current], '3f6e2a4c-0000-4000-8000-000000000001/filestore.tar');
  });

  it('opens files of the previous key after a rotation, and names the key it lacks', async () => {
    const old = sealBuffer(previous, context, Buffer.from('kept readable'), CHUNK);
    assert.equal((await openBuffer(old, [current, previous], context)).toString(), 'kept readable');
    await refused(old, new RegExp(`encrypted under key ${previous.id}, which is neither BACKUP_ENCRYPTION_KEY \\(${current.id}\\)`));
    assert.match(current.id, /^[0-9a-f]{16}$/);
    assert.notEqual(current.id, previous.id);
  });
});
