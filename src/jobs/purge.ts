import { purgeDueInstances } from '../domain/instances/purge.js';
import type { Job } from './scheduler.js';

export const purgeJob = (schedule: string): Job => ({ name: 'purge', schedule, run: purgeDueInstances });
