import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/**
 * The format of a backup file encrypted before it leaves for off-site storage (AES-256-GCM, streamed, authenticated
 * per chunk):
 *
 *   header  "OOBK" | version 1 | 3 zero bytes | key id (8) | chunk size (uint32 BE) | salt (32)      = 52 bytes
 *   chunks  ciphertext of `chunk size` plaintext bytes (the last one 0 to chunk size) | GCM tag (16)
 *
 * Each file has a key of its own, HKDF-SHA256(backup key, salt, "odoo-orchestrator backup v1" | context), where the
 * context names the object (backup id and file name): an object moved into another backup's place does not open.
 * Chunk i is sealed with the nonce (i as uint64 BE | 3 zero bytes | last-chunk flag) and the header as additional
 * data: a chunk moved, dropped or added, a stream cut at a chunk boundary, or a header changed, fails to open.
 */

export const HEADER_BYTES = 52;
export const TAG_BYTES = 16;
export const DEFAULT_CHUNK_BYTES = 64 * 1024;
const MAGIC = Buffer.from('OOBK', 'ascii');
const VERSION = 1;
const KEY_ID_BYTES = 8;

/** A backup encryption key and its id: what a header names, so the right key opens it after a rotation. */
export interface BackupKey {
  id: string;
  key: Buffer;
}

/** The key's id: a hash that names it without revealing it. */
export const backupKeyId = (key: Buffer): string =>
  createHash('sha256')
    .update('odoo-orchestrator backup key id\0')
    .update(key)
    .digest('hex')
    .slice(0, KEY_ID_BYTES * 2);

export const backupKey = (key: Buffer): BackupKey => ({ id: backupKeyId(key), key });

/** Why an encrypted file does not open: its message says what, never how to fix the key material. */
export class BackupCipherError extends Error {
  override readonly name = 'BackupCipherError';
}

export interface SealedHeader {
  keyId: string;
  chunkBytes: number;
  salt: Buffer;
  bytes: Buffer;
}

export function makeHeader(key: BackupKey, salt: Buffer = randomBytes(32), chunkBytes = DEFAULT_CHUNK_BYTES): SealedHeader {
  const bytes = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(bytes, 0);
  bytes[4] = VERSION;
  Buffer.from(key.id, 'hex').copy(bytes, 8);
  bytes.writeUInt32BE(chunkBytes, 16);
  salt.copy(bytes, 20);
  return { keyId: key.id, chunkBytes, salt, bytes };
}

export function parseHeader(bytes: Buffer): SealedHeader {
  if (bytes.length < HEADER_BYTES || !bytes.subarray(0, 4).equals(MAGIC))
    throw new BackupCipherError('it is not an encrypted backup file (no header)');
  if (bytes[4] !== VERSION) throw new BackupCipherError(`its format version ${bytes[4]} is unknown`);
  const header = Buffer.from(bytes.subarray(0, HEADER_BYTES));
  const chunkBytes = header.readUInt32BE(16);
  if (chunkBytes < 1024 || chunkBytes > 64 * 1024 * 1024) throw new BackupCipherError('its header is damaged');
  return { keyId: header.subarray(8, 16).toString('hex'), chunkBytes, salt: header.subarray(20, 52), bytes: header };
}

const fileKey = (key: Buffer, salt: Buffer, context: string): Buffer =>
  Buffer.from(hkdfSync('sha256', key, salt, `odoo-orchestrator backup v1\0${context}`, 32));

function nonce(index: number, last: boolean): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeBigUInt64BE(BigInt(index), 0);
  iv[11] = last ? 1 : 0;
  return iv;
}

/** How many chunks a file of `size` bytes makes (an empty file still has one, its last). */
export const chunkCount = (size: number, chunkBytes: number): number => Math.max(1, Math.ceil(size / chunkBytes));

/** The encrypted size of a file of `size` bytes. */
export const sealedSize = (size: number, chunkBytes: number): number => HEADER_BYTES + size + chunkCount(size, chunkBytes) * TAG_BYTES;

/** Seals the chunks of one file, in any order (a resumed upload starts half-way): chunk `index` of `plaintext`. */
export interface ChunkSealer {
  header: SealedHeader;
  seal: (index: number, last: boolean, plaintext: Buffer) => Buffer;
}

export function chunkSealer(key: BackupKey, context: string, header: SealedHeader = makeHeader(key)): ChunkSealer {
  if (header.keyId !== key.id) throw new BackupCipherError('the header names another key');
  const derived = fileKey(key.key, header.salt, context);
  return {
    header,
    seal: (index, last, plaintext) => {
      const cipher = createCipheriv('aes-256-gcm', derived, nonce(index, last));
      cipher.setAAD(header.bytes);
      return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    },
  };
}

/** Keys by id: the current one first, then the previous ones (BACKUP_ENCRYPTION_KEY_PREVIOUS). */
export type BackupKeyring = readonly BackupKey[];

function keyFor(keyring: BackupKeyring, keyId: string): BackupKey {
  const key = keyring.find((candidate) => candidate.id === keyId);
  if (!key)
    throw new BackupCipherError(
      `it is encrypted under key ${keyId}, which is neither BACKUP_ENCRYPTION_KEY (${keyring[0]?.id ?? 'unset'}) nor BACKUP_ENCRYPTION_KEY_PREVIOUS`,
    );
  return key;
}

/**
 * The plaintext of an encrypted file, streamed: each chunk is released only once its tag checked out, so nothing
 * unauthenticated ever reaches the caller. Throws a BackupCipherError at the first chunk that does not open, and at
 * the end when the last chunk is missing.
 */
export async function* openChunks(
  source: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array>,
  keyring: BackupKeyring,
  context: string,
): AsyncGenerator<Buffer> {
  let opener: { header: SealedHeader; key: Buffer } | null = null;
  let index = 0;
  const open = (sealed: Buffer, last: boolean): Buffer => {
    const { header, key } = opener!;
    const decipher = createDecipheriv('aes-256-gcm', key, nonce(index, last));
    decipher.setAAD(header.bytes);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    try {
      const plaintext = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
      index += 1;
      return plaintext;
    } catch {
      throw new BackupCipherError(
        last
          ? `its chunk ${index} does not authenticate as the last one: the file was cut short, altered or damaged`
          : `its chunk ${index} does not authenticate: the file was altered or damaged`,
      );
    }
  };
  // Pieces are gathered and joined once more than a chunk is at hand: each byte is copied once, not at every piece.
  let pieces: Buffer[] = [];
  let buffered = 0;
  for await (const piece of source) {
    pieces.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
    buffered += piece.byteLength;
    if (!opener) {
      if (buffered < HEADER_BYTES) continue;
      const start = Buffer.concat(pieces, buffered);
      const header = parseHeader(start);
      opener = { header, key: fileKey(keyFor(keyring, header.keyId).key, header.salt, context) };
      pieces = [start.subarray(HEADER_BYTES)];
      buffered -= HEADER_BYTES;
    }
    const sealedChunk = opener.header.chunkBytes + TAG_BYTES;
    // A chunk is known not to be the last only once more bytes follow it.
    if (buffered <= sealedChunk) continue;
    const pending = Buffer.concat(pieces, buffered);
    let offset = 0;
    while (pending.length - offset > sealedChunk) {
      yield open(pending.subarray(offset, offset + sealedChunk), false);
      offset += sealedChunk;
    }
    pieces = [pending.subarray(offset)];
    buffered = pending.length - offset;
  }
  const pending = Buffer.concat(pieces, buffered);
  if (!opener) throw new BackupCipherError('it is not an encrypted backup file (no header)');
  if (pending.length < TAG_BYTES) throw new BackupCipherError('its last chunk is missing: the file was cut short');
  yield open(pending, true);
}

/** The header's key id, read from the file's first bytes. */
export const keyIdOf = (start: Buffer): string => parseHeader(start).keyId;

/** Seals a whole buffer (a manifest, a test's file) in one piece. */
export function sealBuffer(key: BackupKey, context: string, plaintext: Buffer, chunkBytes = DEFAULT_CHUNK_BYTES): Buffer {
  const sealer = chunkSealer(key, context, makeHeader(key, randomBytes(32), chunkBytes));
  const count = chunkCount(plaintext.length, chunkBytes);
  const chunks = Array.from({ length: count }, (_, index) =>
    sealer.seal(index, index === count - 1, plaintext.subarray(index * chunkBytes, (index + 1) * chunkBytes)),
  );
  return Buffer.concat([sealer.header.bytes, ...chunks]);
}

/** Opens a whole sealed buffer. */
export async function openBuffer(sealed: Buffer, keyring: BackupKeyring, context: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of openChunks([sealed], keyring, context)) parts.push(part);
  return Buffer.concat(parts);
}
