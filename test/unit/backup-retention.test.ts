import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expiredBackups, type RetainedBackup } from '../../src/domain/backups/backup-retention.js';

const policy = { keepDaily: 7, keepWeekly: 4, keepMonthly: 3, keepAfterTerminationDays: 30, keepFinalDays: 30 };
const DAY = 24 * 3600 * 1000;
const now = new Date('2026-06-30T12:00:00Z');

/** One completed backup a day at 02:00 for `days` days up to `now`. */
const daily = (days: number): RetainedBackup[] =>
  Array.from({ length: days }, (_, index) => ({
    id: `d${index}`,
    kind: 'SCHEDULED' as const,
    status: 'COMPLETED' as const,
    created_at: new Date(Date.UTC(2026, 5, 30, 2) - index * DAY),
  }));

describe('backup retention', () => {
  it('keeps 7 daily, 4 weekly and 3 monthly backups of a year of daily ones', () => {
    const backups = daily(365);
    const expired = new Set(expiredBackups(backups, policy, now, null));
    const kept = backups.filter((backup) => !expired.has(backup.id)).map((backup) => backup.created_at.toISOString().slice(0, 10));
    assert.deepEqual(kept, [
      '2026-06-30',
      '2026-06-29',
      '2026-06-28',
      '2026-06-27',
      '2026-06-26',
      '2026-06-25',
      '2026-06-24', // 7 days
      '2026-06-21',
      '2026-06-14', // the Sundays closing the weeks before (this week's newest is today)
      '2026-05-31',
      '2026-04-30', // the newest of May and April (June's is today)
    ]);
  });

  it('keeps whatever there is when there are fewer than promised, and never one in flight', () => {
    const backups: RetainedBackup[] = [
      { id: 'old', kind: 'SCHEDULED', status: 'COMPLETED', created_at: new Date('2025-01-01T02:00:00Z') },
      { id: 'running', kind: 'SCHEDULED', status: 'RUNNING', created_at: new Date('2024-01-01T02:00:00Z') },
      { id: 'pending', kind: 'MANUAL', status: 'PENDING', created_at: new Date('2024-01-01T02:00:00Z') },
    ];
    assert.deepEqual(expiredBackups(backups, policy, now, null), []);
  });

  it('prunes failed backups after a week, and a same-day duplicate at once', () => {
    const backups: RetainedBackup[] = [
      { id: 'morning', kind: 'SCHEDULED', status: 'COMPLETED', created_at: new Date('2026-06-30T02:00:00Z') },
      { id: 'manual', kind: 'MANUAL', status: 'COMPLETED', created_at: new Date('2026-06-30T09:00:00Z') },
      { id: 'failed-old', kind: 'SCHEDULED', status: 'FAILED', created_at: new Date('2026-06-20T02:00:00Z') },
      { id: 'failed-new', kind: 'SCHEDULED', status: 'FAILED', created_at: new Date('2026-06-29T02:00:00Z') },
    ];
    assert.deepEqual(expiredBackups(backups, policy, now, null).sort(), ['failed-old', 'morning']);
  });

  it('keeps every backup of a terminated instance for 30 days, then none', () => {
    const backups = daily(100);
    assert.deepEqual(expiredBackups(backups, policy, now, new Date(now.getTime() - 29 * DAY)), []);
    assert.equal(expiredBackups(backups, policy, now, new Date(now.getTime() - 31 * DAY)).length, 100);
  });

  it('never thins a FINAL backup (the one a restore took beside the day’s others) before BACKUP_KEEP_FINAL_DAYS', () => {
    const backups: RetainedBackup[] = [
      { id: 'scheduled', kind: 'SCHEDULED', status: 'COMPLETED', created_at: new Date('2026-06-30T02:00:00Z') },
      { id: 'final', kind: 'FINAL', status: 'COMPLETED', created_at: new Date('2026-06-30T10:00:00Z') },
      { id: 'after', kind: 'SCHEDULED', status: 'COMPLETED', created_at: new Date('2026-06-30T11:00:00Z') },
    ];
    assert.deepEqual(expiredBackups(backups, policy, now, null), ['scheduled'], 'the restore’s FINAL stays');
    const monthLater = new Date(now.getTime() + 31 * DAY);
    const later = [...backups, { id: 'newest', kind: 'SCHEDULED' as const, status: 'COMPLETED' as const, created_at: monthLater }];
    assert.ok(expiredBackups(later, policy, monthLater, null).includes('final'), 'thinned as any other once 30 days old');
  });

  it('keeps the newest MANUAL backup for BACKUP_KEEP_FINAL_DAYS, however many scheduled ones follow it', () => {
    const manual: RetainedBackup = { id: 'manual', kind: 'MANUAL', status: 'COMPLETED', created_at: new Date('2026-06-20T09:00:00Z') };
    const backups = [...daily(20), manual];
    assert.ok(!expiredBackups(backups, policy, now, null).includes('manual'));
    const older = { ...manual, id: 'older', created_at: new Date('2026-06-20T08:00:00Z') };
    assert.ok(expiredBackups([...backups, older], policy, now, null).includes('older'), 'only the newest one');
  });

  it('keeps a terminated instance’s FINAL for BACKUP_KEEP_FINAL_DAYS even when the others go sooner', () => {
    const final: RetainedBackup = { id: 'final', kind: 'FINAL', status: 'COMPLETED', created_at: new Date(now.getTime() - 8 * DAY) };
    const backups = [...daily(10).slice(9), final];
    const shortAfterTermination = { ...policy, keepAfterTerminationDays: 7 };
    assert.deepEqual(expiredBackups(backups, shortAfterTermination, now, final.created_at), ['d9']);
    assert.deepEqual(expiredBackups(backups, shortAfterTermination, new Date(now.getTime() + 23 * DAY), final.created_at).sort(), [
      'd9',
      'final',
    ]);
  });
});
