import { once } from 'node:events';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, createDeflateRaw } from 'node:zlib';

/** One file of the archive; `open` is called when its turn comes, so only one file is read at a time. */
export interface ZipEntry {
  name: string;
  /** The size to expect: entries that may pass 4 GiB are written in ZIP64 form. */
  size: number;
  modified: Date;
  open: () => Readable;
  /** Deflated unless false (already-compressed data gains nothing). */
  compress?: boolean;
}

const MAX32 = 0xffffffff;
/** Deflate can grow incompressible data a little: well below 4 GiB already takes ZIP64 sizes. */
const ZIP64_FROM = 0xf0000000;
const UTF8_AND_DESCRIPTOR = 0x0808;
const UNIX_FILE = 0o100644;

function dosDateTime(date: Date): { time: number; date: number } {
  const year = Math.max(1980, date.getFullYear());
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | Math.floor(date.getSeconds() / 2),
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

interface Written {
  name: Buffer;
  method: number;
  crc: number;
  compressed: number;
  size: number;
  offset: number;
  when: { time: number; date: number };
  zip64: boolean;
}

/** A ZIP64 extended-information field holding the given 8-byte values. */
function zip64Field(values: number[]): Buffer {
  const field = Buffer.alloc(4 + values.length * 8);
  field.writeUInt16LE(0x0001, 0);
  field.writeUInt16LE(values.length * 8, 2);
  values.forEach((value, index) => field.writeBigUInt64LE(BigInt(value), 4 + index * 8));
  return field;
}

/** Writes to `out`, waiting whenever it asks to; fails if it closes first (the client went away). */
function writerTo(out: Writable) {
  let position = 0;
  return {
    get position() {
      return position;
    },
    async write(chunk: Buffer): Promise<void> {
      position += chunk.length;
      if (out.write(chunk)) return;
      const controller = new AbortController();
      await Promise.race([
        once(out, 'drain', { signal: controller.signal }),
        once(out, 'close', { signal: controller.signal }).then(() => {
          throw new Error('the receiver closed the stream');
        }),
      ]).finally(() => controller.abort());
    },
  };
}

/**
 * Streams a zip archive of `entries` into `out` (which it does not end): each entry's bytes flow through CRC-32 and
 * deflate as they are read, sizes follow in data descriptors, ZIP64 records where sizes, offsets or counts need them.
 * Nothing is held in memory beyond one chunk and the central directory.
 */
export async function writeZip(out: Writable, entries: AsyncIterable<ZipEntry> | Iterable<ZipEntry>): Promise<void> {
  const writer = writerTo(out);
  const written: Written[] = [];
  for await (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const zip64 = entry.size >= ZIP64_FROM;
    const method = entry.compress === false ? 0 : 8;
    const when = dosDateTime(entry.modified);
    const offset = writer.position;
    const extra = zip64 ? zip64Field([0, 0]) : Buffer.alloc(0);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(zip64 ? 45 : 20, 4);
    local.writeUInt16LE(UTF8_AND_DESCRIPTOR, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(when.time, 10);
    local.writeUInt16LE(when.date, 12);
    local.writeUInt32LE(0, 14);
    local.writeUInt32LE(zip64 ? MAX32 : 0, 18);
    local.writeUInt32LE(zip64 ? MAX32 : 0, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(extra.length, 28);
    await writer.write(Buffer.concat([local, name, extra]));

    let crc = 0;
    let size = 0;
    let compressed = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        crc = crc32(chunk, crc);
        size += chunk.length;
        done(null, chunk);
      },
    });
    const sink = async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        compressed += chunk.length;
        await writer.write(chunk);
      }
    };
    if (method === 8) await pipeline(entry.open(), measure, createDeflateRaw(), sink);
    else await pipeline(entry.open(), measure, sink);
    if (!zip64 && (size > MAX32 || compressed > MAX32)) throw new Error(`${entry.name} grew past 4 GiB while it was written`);

    const descriptor = Buffer.alloc(zip64 ? 24 : 16);
    descriptor.writeUInt32LE(0x08074b50, 0);
    descriptor.writeUInt32LE(crc >>> 0, 4);
    if (zip64) {
      descriptor.writeBigUInt64LE(BigInt(compressed), 8);
      descriptor.writeBigUInt64LE(BigInt(size), 16);
    } else {
      descriptor.writeUInt32LE(compressed, 8);
      descriptor.writeUInt32LE(size, 12);
    }
    await writer.write(descriptor);
    written.push({ name, method, crc: crc >>> 0, compressed, size, offset, when, zip64 });
  }

  const directoryStart = writer.position;
  for (const file of written) {
    const large = [file.size, file.compressed].some((value) => value >= MAX32) || file.zip64;
    const values = [...(large ? [file.size, file.compressed] : []), ...(file.offset >= MAX32 ? [file.offset] : [])];
    const extra = values.length > 0 ? zip64Field(values) : Buffer.alloc(0);
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE((3 << 8) | 45, 4);
    header.writeUInt16LE(values.length > 0 ? 45 : 20, 6);
    header.writeUInt16LE(UTF8_AND_DESCRIPTOR, 8);
    header.writeUInt16LE(file.method, 10);
    header.writeUInt16LE(file.when.time, 12);
    header.writeUInt16LE(file.when.date, 14);
    header.writeUInt32LE(file.crc, 16);
    header.writeUInt32LE(large ? MAX32 : file.compressed, 20);
    header.writeUInt32LE(large ? MAX32 : file.size, 24);
    header.writeUInt16LE(file.name.length, 28);
    header.writeUInt16LE(extra.length, 30);
    header.writeUInt32LE((UNIX_FILE << 16) >>> 0, 38);
    header.writeUInt32LE(file.offset >= MAX32 ? MAX32 : file.offset, 42);
    await writer.write(Buffer.concat([header, file.name, extra]));
  }
  const directorySize = writer.position - directoryStart;

  const needs64 = written.length >= 0xffff || directoryStart >= MAX32 || directorySize >= MAX32;
  if (needs64) {
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0);
    record.writeBigUInt64LE(44n, 4);
    record.writeUInt16LE((3 << 8) | 45, 12);
    record.writeUInt16LE(45, 14);
    record.writeBigUInt64LE(BigInt(written.length), 24);
    record.writeBigUInt64LE(BigInt(written.length), 32);
    record.writeBigUInt64LE(BigInt(directorySize), 40);
    record.writeBigUInt64LE(BigInt(directoryStart), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(directoryStart + directorySize), 8);
    locator.writeUInt32LE(1, 16);
    await writer.write(Buffer.concat([record, locator]));
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Math.min(written.length, 0xffff), 8);
  end.writeUInt16LE(Math.min(written.length, 0xffff), 10);
  end.writeUInt32LE(Math.min(directorySize, MAX32), 12);
  end.writeUInt32LE(Math.min(directoryStart, MAX32), 16);
  await writer.write(end);
}
