import { measureStorageUsage } from '../domain/storage-usage.js';
import type { Job } from './scheduler.js';

export const STORAGE_USAGE = 'storage-usage';
export const storageUsageJob = (schedule: string): Job => ({ name: STORAGE_USAGE, schedule, run: measureStorageUsage });
