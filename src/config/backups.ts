import { z } from 'zod';
import { cronExpression, int } from './rules.js';

/** When backups run, how many are kept, and how their one-shot jobs are bounded. */
export const backupSection = z
  .object({
    BACKUP_CRON: cronExpression
      .default('0 2 * * *')
      .describe(
        'scheduled backups of `RUNNING`, `DEGRADED` and `SUSPENDED` tenants, each at its own offset within `BACKUP_SPREAD_SECONDS`, at most `BACKUP_MAX_CONCURRENT` at once',
      ),
    BACKUP_SPREAD_SECONDS: int(0, 24 * 3600)
      .default(3600)
      .describe('how long after `BACKUP_CRON` scheduled backups may start, each tenant at an offset of its own'),
    BACKUP_KEEP_DAILY: int(0, 1000).default(7).describe('retention: the newest backup of each of this many most recent days is kept'),
    BACKUP_KEEP_WEEKLY: int(0, 1000).default(4).describe('retention: the newest backup of each of this many most recent weeks is kept'),
    BACKUP_KEEP_MONTHLY: int(0, 1000).default(3).describe('retention: the newest backup of each of this many most recent months is kept'),
    BACKUP_KEEP_AFTER_TERMINATION_DAYS: int(0, 3650)
      .default(30)
      .describe("a terminated tenant's backups are kept this long (and can start a new instance)"),
    BACKUP_KEEP_FINAL_DAYS: int(0, 3650)
      .default(30)
      .describe("`FINAL` backups (and the newest `MANUAL` one) are never thinned before this many days, a terminated tenant's included"),
    BACKUP_MIN_FREE_MB: int(0, 100 * 1024 * 1024)
      .default(1024)
      .describe(
        "free space the backups' storage must keep (and twice the instance's newest backup) for a manual or scheduled backup or a restore to start; a `FINAL` is always tried",
      ),
    BACKUP_TRACKING_CRON: cronExpression.default('* * * * * *').describe('follows backup and restore jobs'),
    BACKUP_RETENTION_CRON: cronExpression
      .default('17 * * * *')
      .describe('when the leader applies retention (hourly): files and rows go together'),
    BACKUP_MAX_CONCURRENT: int(1, 100).default(2).describe('scheduled backups running at once (manual and final ones are never held back)'),
    BACKUP_JOB_DEADLINE_SECONDS: int(30, 7 * 24 * 3600)
      .default(6 * 3600)
      .describe('a backup or restore job running longer fails'),
  })
  .transform((e) => ({
    backups: {
      /** When scheduled backups are due; each instance starts within `spreadSeconds` after, at an offset of its own. */
      cron: e.BACKUP_CRON,
      spreadSeconds: e.BACKUP_SPREAD_SECONDS,
      keepDaily: e.BACKUP_KEEP_DAILY,
      keepWeekly: e.BACKUP_KEEP_WEEKLY,
      keepMonthly: e.BACKUP_KEEP_MONTHLY,
      keepAfterTerminationDays: e.BACKUP_KEEP_AFTER_TERMINATION_DAYS,
      /** FINAL backups (and the newest MANUAL one) are never thinned before this many days. */
      keepFinalDays: e.BACKUP_KEEP_FINAL_DAYS,
      /**
       * Free space the backups' storage must keep (and twice the instance's newest backup) for a manual or scheduled
       * backup or a restore to start; a FINAL backup is always tried.
       */
      minFreeMb: e.BACKUP_MIN_FREE_MB,
      /** How often the leader advances backups and restores in flight, and applies retention. */
      trackingCron: e.BACKUP_TRACKING_CRON,
      retentionCron: e.BACKUP_RETENTION_CRON,
      /** Scheduled backups running at once (manual and final ones are never held back). */
      maxConcurrent: e.BACKUP_MAX_CONCURRENT,
      /** A backup or restore job still running after this long is failed and removed. */
      jobDeadlineSeconds: e.BACKUP_JOB_DEADLINE_SECONDS,
    },
  }))
  .meta({ title: 'Backups' });

export type BackupConfig = z.output<typeof backupSection>['backups'];
