import { retryWaitingAllocations } from '../domain/allocation/waiting-allocations.js';
import type { Job } from './scheduler.js';

export const allocationRetryJob = (schedule: string): Job => ({ name: 'allocation-retry', schedule, run: retryWaitingAllocations });
