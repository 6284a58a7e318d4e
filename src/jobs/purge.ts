import { purgeDueInstances } from '../domain/purge.js';
import type { Job } from './scheduler.js';

export const purgeJob = (schedule: string): Job => ({ name: 'purge', schedule, run: purgeDueInstances });
