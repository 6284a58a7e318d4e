import type { ServiceSpec } from './docker-types.js';

const SECOND_NS = 1_000_000_000;
const MIB = 1024 * 1024;
/** Reservations are a quarter of the limits: enough to spread tenants over nodes without starving small ones. */
const RESERVATION_SHARE = 4;

export type ServiceResources = NonNullable<ServiceSpec['TaskTemplate']['Resources']>;

/** Pure: an Odoo task's limits and reservations for a plan's CPU cores and memory. */
export function odooResources(cpuLimit: number, memoryLimitMb: number): ServiceResources {
  const nanoCpus = Math.round(cpuLimit * SECOND_NS);
  const memoryBytes = Math.round(memoryLimitMb * MIB);
  return {
    Limits: { NanoCPUs: nanoCpus, MemoryBytes: memoryBytes },
    Reservations: { NanoCPUs: Math.floor(nanoCpus / RESERVATION_SHARE), MemoryBytes: Math.floor(memoryBytes / RESERVATION_SHARE) },
  };
}
