import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expiredBackups, type RetainedBackup } from '../../src/domain/backup-retention.js';

const policy = { keepDaily: 7, keepWeekly: 4, keepMonthly: 3, keepAfterTerminationDays: 30 };
const DAY = 24 * 3600 * 1000;
const now = new Date('2026-06-30T12:00:00Z');

/** One completed backup a day at 02:00 for `days` days up to `now`. */
const daily = (days: number): RetainedBackup[] =>
  Array.from({ length: days }, (_, index) => ({
    id: `d${index}`,
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
      { id: 'old', status: 'COMPLETED', created_at: new Date('2025-01-01T02:00:00Z') },
      { id: 'running', status: 'RUNNING', created_at: new Date('2024-01-01T02:00:00Z') },
      { id: 'pending', status: 'PENDING', created_at: new Date('2024-01-01T02:00:00Z') },
    ];
    assert.deepEqual(expiredBackups(backups, policy, now, null), []);
  });

  it('prunes failed backups after a week, and a same-day duplicate at once', () => {
    const backups: RetainedBackup[] = [
      { id: 'morning', status: 'COMPLETED', created_at: new Date('2026-06-30T02:00:00Z') },
      { id: 'manual', status: 'COMPLETED', created_at: new Date('2026-06-30T09:00:00Z') },
      { id: 'failed-old', status: 'FAILED', created_at: new Date('2026-06-20T02:00:00Z') },
      { id: 'failed-new', status: 'FAILED', created_at: new Date('2026-06-29T02:00:00Z') },
    ];
    assert.deepEqual(expiredBackups(backups, policy, now, null).sort(), ['failed-old', 'morning']);
  });

  it('keeps every backup of a terminated instance for 30 days, then none', () => {
    const backups = daily(100);
    assert.deepEqual(expiredBackups(backups, policy, now, new Date(now.getTime() - 29 * DAY)), []);
    assert.equal(expiredBackups(backups, policy, now, new Date(now.getTime() - 31 * DAY)).length, 100);
  });
});
