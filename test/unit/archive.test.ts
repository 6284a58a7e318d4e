import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { tarFiles } from '../../src/archive/tar.js';
import { writeZip, type ZipEntry } from '../../src/archive/zip.js';

const longName = `${'d'.repeat(60)}/${'f'.repeat(80)}.bin`;

/** What Python's zipfile makes of the archive: names, the CRC check, and each file's content. */
function pythonView(path: string): { names: string[]; bad: string | null; contents: Record<string, string> } {
  const script = [
    'import json, sys, zipfile',
    'z = zipfile.ZipFile(sys.argv[1])',
    "print(json.dumps({'names': z.namelist(), 'bad': z.testzip(), 'contents': {n: z.read(n).decode('latin-1') for n in z.namelist()}}))",
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', script, path], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }));
}

describe('archives', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'archive-test-'));
    const source = join(dir, 'source');
    await mkdir(join(source, 'ab'), { recursive: true });
    await mkdir(join(source, 'd'.repeat(60)), { recursive: true });
    await writeFile(join(source, 'ab', 'ab12'), 'hello attachment');
    await writeFile(join(source, 'empty'), '');
    await writeFile(join(source, longName), Buffer.alloc(70_000, 7));
    execFileSync('tar', ['-C', source, '-cf', join(dir, 'filestore.tar'), '.']);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('lists the regular files of a GNU tar archive, long names included, where their bytes are', async () => {
    const files = [];
    for await (const file of tarFiles(join(dir, 'filestore.tar'))) files.push(file);
    assert.deepEqual(
      files.map((file) => [file.name, file.size]).sort(),
      [
        ['ab/ab12', 16],
        ['empty', 0],
        [longName, 70_000],
      ].sort(),
    );
    const attachment = files.find((file) => file.name === 'ab/ab12')!;
    const bytes = await Readable.from(
      createReadStream(join(dir, 'filestore.tar'), { start: attachment.offset, end: attachment.offset + 15 }),
    ).toArray();
    assert.equal(Buffer.concat(bytes).toString(), 'hello attachment');
  });

  it('streams a zip Python opens and checks: deflated, stored, empty and ZIP64 entries', async () => {
    const big = Buffer.alloc(300_000);
    for (let index = 0; index < big.length; index++) big[index] = (index * 7919) % 251;
    const entries: ZipEntry[] = [
      { name: 'dump.sql', size: 11, modified: new Date(), open: () => Readable.from([Buffer.from('select 1;\n\n')]) },
      { name: 'filestore/empty', size: 0, modified: new Date(), open: () => Readable.from([]) },
      {
        name: 'filestore/stored.bin',
        size: big.length,
        modified: new Date(),
        compress: false,
        open: () => Readable.from([big.subarray(0, 1000), big.subarray(1000)]),
      },
      // Declared as huge: written with ZIP64 sizes, which readers must accept for any size.
      { name: 'filestore/zip64.bin', size: 0xf0000000, modified: new Date(), open: () => Readable.from([big]) },
      { name: 'manifest.json', size: 2, modified: new Date('1975-01-01'), open: () => Readable.from([Buffer.from('{}')]) },
    ];
    const path = join(dir, 'out.zip');
    const out = createWriteStream(path);
    await writeZip(out, entries);
    await new Promise<void>((resolve) => out.end(resolve));
    const view = pythonView(path);
    assert.equal(view.bad, null);
    assert.deepEqual(
      view.names,
      entries.map((entry) => entry.name),
    );
    assert.equal(view.contents['dump.sql'], 'select 1;\n\n');
    assert.equal(view.contents['filestore/empty'], '');
    assert.equal(view.contents['filestore/stored.bin'], big.toString('latin1'));
    assert.equal(view.contents['filestore/zip64.bin'], big.toString('latin1'));
    assert.equal(view.contents['manifest.json'], '{}');
  });
});
