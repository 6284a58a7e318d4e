import { checkPoolHealth } from '../domain/pools/pool-health.js';
import type { Job } from './scheduler.js';

export const poolHealthJob = (schedule: string): Job => ({ name: 'pool-health', schedule, run: checkPoolHealth });
