import { randomUUID } from 'node:crypto';
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

/**
 * Claims of the test run's shared things (a slot, a lock) as files holding the claimant's pid, made so that two
 * processes never both hold one: a claim file appears with its pid already in it, and a claim left by a process
 * that is gone is taken over by one claimant at a time.
 */

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The live process holding `file`, or null: no file, or one left by a process that is gone. */
export function holderOf(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim() || 0);
    return pid && alive(pid) ? pid : null;
  } catch {
    return null;
  }
}

/**
 * Creates `file` holding this pid, if it does not exist: a hard link to a file written first, so nobody reads it
 * empty (a claim read empty looked abandoned, and two suites once held one slot).
 */
function createHeld(file: string): boolean {
  const written = `${file}.${process.pid}.${randomUUID()}`;
  writeFileSync(written, String(process.pid));
  try {
    linkSync(written, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(written, { force: true });
  }
}

/** Claims `file` for this process; true when it holds it now. */
export function tryClaim(file: string): boolean {
  if (createHeld(file)) return true;
  if (holderOf(file) !== null) return false;
  // Its holder is gone. One claimant at a time takes it over, or two could each remove the other's new claim.
  const takeover = `${file}.takeover`;
  if (!createHeld(takeover)) {
    if (holderOf(takeover) === null) rmSync(takeover, { force: true });
    return false;
  }
  try {
    if (holderOf(file) !== null) return false;
    rmSync(file, { force: true });
    return createHeld(file);
  } finally {
    rmSync(takeover, { force: true });
  }
}
