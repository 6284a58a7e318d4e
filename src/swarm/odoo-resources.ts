import type { ServiceSpec } from './docker-types.js';
import { resourceAmounts } from './spec-parts.js';

/** Reservations are a quarter of the limits: enough to spread tenants over nodes without starving small ones. */
const RESERVATION_SHARE = 4;

export type ServiceResources = NonNullable<ServiceSpec['TaskTemplate']['Resources']>;

/** Pure: an Odoo task's limits and reservations for a plan's CPU cores and memory. */
export function odooResources(cpuLimit: number, memoryLimitMb: number): ServiceResources {
  const limits = resourceAmounts(cpuLimit, memoryLimitMb);
  return {
    Limits: limits,
    Reservations: {
      NanoCPUs: Math.floor(limits.NanoCPUs / RESERVATION_SHARE),
      MemoryBytes: Math.floor(limits.MemoryBytes / RESERVATION_SHARE),
    },
  };
}
