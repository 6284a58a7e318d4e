import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { holderOf } from '../support/claims.js';

const claims = new URL(`../support/claims.${import.meta.url.endsWith('.js') ? 'js' : 'ts'}`, import.meta.url).href;
const loader = import.meta.url.endsWith('.js') ? [] : ['--import', 'tsx'];

// Each claimant waits for the same instant, claims, says whether it holds the claim, and lives until its stdin ends:
// a holder that ended would leave a claim the others may rightly take over.
const CLAIMANT = `
const { tryClaim } = await import(process.argv[1]);
const at = Number(process.argv[3]);
while (Date.now() < at);
process.stdout.write(tryClaim(process.argv[2]) ? 'held' : 'not');
process.stdin.resume();
`;

/** `count` processes claiming `file` at the same instant; how many hold it. */
async function racingClaims(file: string, count: number): Promise<number> {
  const at = String(Date.now() + 1500);
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, [...loader, '--input-type=module', '-e', CLAIMANT, claims, file, at], { stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  try {
    const answers = await Promise.all(
      children.map(
        (child) =>
          new Promise<string>((resolve, reject) => {
            let out = '';
            child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
            child.stdout.on('data', () => (out === 'held' || out === 'not') && resolve(out));
            child.once('exit', (code) => reject(new Error(`a claimant exited (${code}) before it answered`)));
          }),
      ),
    );
    return answers.filter((answer) => answer === 'held').length;
  } finally {
    for (const child of children) child.stdin.end();
  }
}

describe('claims of the test run’s slots and locks', () => {
  it('lets exactly one of many processes claiming at once hold a claim', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'claims-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    assert.equal(await racingClaims(join(dir, 'slot-0'), 8), 1);
  });

  it('lets exactly one of them take over a claim left by a process that is gone', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'claims-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'slot-0');
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    writeFileSync(file, gone);
    assert.equal(holderOf(file), null, 'a claim by a pid that is gone holds nothing');
    assert.equal(await racingClaims(file, 8), 1);
  });
});
