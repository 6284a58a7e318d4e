import type { OffsiteUploads } from '../domain/offsite-uploads.js';
import type { Job } from './scheduler.js';

/** At each tick: the uploads that are due start (the new backups, and failed ones whose wait is over). */
export const offsiteUploadJob = (schedule: string, uploads: OffsiteUploads): Job => ({
  name: 'offsite-upload',
  schedule,
  run: (deps) => uploads.runDue(deps),
});
