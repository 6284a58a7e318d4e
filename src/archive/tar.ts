import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/** A regular file inside a tar archive: where its bytes are, so they can be streamed straight from the archive. */
export interface TarFile {
  name: string;
  size: number;
  mode: number;
  modified: Date;
  /** Offset of the file's first byte in the archive. */
  offset: number;
}

const BLOCK = 512;

const text = (header: Buffer, start: number, length: number) => {
  const field = header.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? length : end).toString('utf8');
};

/** An octal field, or GNU's base-256 one (high bit set) for sizes of 8 GiB and more. */
function numeric(header: Buffer, start: number, length: number): number {
  const field = header.subarray(start, start + length);
  if ((field[0]! & 0x80) !== 0) {
    let value = field[0]! & 0x7f;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    return value;
  }
  const digits = text(header, start, length).trim();
  return digits ? parseInt(digits, 8) : 0;
}

/** pax extended header records: `<length> <key>=<value>\n`. */
function paxRecords(data: Buffer): Record<string, string> {
  const records: Record<string, string> = {};
  for (let offset = 0; offset < data.length;) {
    const space = data.indexOf(0x20, offset);
    const length = parseInt(data.subarray(offset, space).toString('ascii'), 10);
    if (!(length > 0)) break;
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    records[record.slice(0, equals)] = record.slice(equals + 1);
    offset += length;
  }
  return records;
}

/**
 * The regular files of a ustar/GNU/pax tar archive, in order, read header by header (the archive is never loaded
 * whole). Names lose a leading `./`; GNU long names and pax `path`/`size` records are honoured.
 */
export async function* tarFiles(path: string): AsyncGenerator<TarFile> {
  // A link in the archive's place is not followed.
  const file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const header = Buffer.alloc(BLOCK);
    let longName: string | null = null;
    let pax: Record<string, string> = {};
    for (let offset = 0; ;) {
      const { bytesRead } = await file.read(header, 0, BLOCK, offset);
      if (bytesRead < BLOCK || header.every((byte) => byte === 0)) return;
      const type = String.fromCharCode(header[156]!);
      const prefix = header.subarray(257, 262).toString('ascii') === 'ustar' ? text(header, 345, 155) : '';
      let size = numeric(header, 124, 12);
      const dataOffset = offset + BLOCK;
      if (type === 'L' || type === 'x') {
        const data = Buffer.alloc(size);
        await file.read(data, 0, size, dataOffset);
        if (type === 'L') longName = text(data, 0, size);
        else pax = paxRecords(data);
      } else {
        if (pax.size) size = Number(pax.size);
        const name = (pax.path ?? longName ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100))).replace(
          /^(\.\/)+/,
          '',
        );
        if ((type === '0' || type === '\0') && name) {
          yield { name, size, mode: numeric(header, 100, 8), modified: new Date(numeric(header, 136, 12) * 1000), offset: dataOffset };
        }
        longName = null;
        pax = {};
      }
      offset = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
    }
  } finally {
    await file.close();
  }
}
