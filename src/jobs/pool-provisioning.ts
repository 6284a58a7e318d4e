import { trackPoolProvisioning } from '../domain/pools/pool-tracking.js';
import type { Job } from './scheduler.js';

export const poolProvisioningJob = (schedule: string): Job => ({ name: 'pool-provisioning', schedule, run: trackPoolProvisioning });
