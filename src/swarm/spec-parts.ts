/** Pure pieces every spec builder assembles its Swarm services and jobs from, in Docker's units. */
import type {
  EndpointPort,
  HealthCheck,
  NetworkAttachment,
  ResourceAmounts,
  SecretReference,
  ServiceSpec,
  TaskSpec,
} from './docker-types.js';
import type { Labels } from './labels.js';

const SECOND_NS = 1_000_000_000;
const MIB = 1024 * 1024;

/** Docker counts durations in nanoseconds. */
export const seconds = (value: number): number => value * SECOND_NS;

/** CPU cores and memory in MB as a task's limits or reservations. */
export const resourceAmounts = (cpus: number, memoryMb: number): ResourceAmounts => ({
  NanoCPUs: Math.round(cpus * SECOND_NS),
  MemoryBytes: Math.round(memoryMb * MIB),
});

/** A Docker secret as the file /run/secrets/`fileName`, readable by `uid` alone. */
export const secretFile = (secret: { id: string; name: string }, fileName: string, uid: number): SecretReference => ({
  SecretID: secret.id,
  SecretName: secret.name,
  File: { Name: fileName, UID: String(uid), GID: String(uid), Mode: 0o400 },
});

/**
 * The task on the overlay network, where others reach it by `alias` (its service's name) when given. On the task
 * rather than the service: ServiceSpec.Networks is deprecated.
 */
export const onNetwork = (network: string, alias?: string): NetworkAttachment[] => [
  alias === undefined ? { Target: network } : { Target: network, Aliases: [alias] },
];

export interface HealthTiming {
  intervalSeconds: number;
  timeoutSeconds: number;
  startPeriodSeconds: number;
  retries: number;
}

export const healthCheck = (test: string[], timing: HealthTiming): HealthCheck => ({
  Test: test,
  Interval: seconds(timing.intervalSeconds),
  Timeout: seconds(timing.timeoutSeconds),
  StartPeriod: seconds(timing.startPeriodSeconds),
  Retries: timing.retries,
});

/**
 * A long-running service of one task that owns data: two tasks must never share it, even during an update
 * (stop-first). `dnsrr` because this kernel has no IPVS; ports, if any, are published in host mode.
 */
export const singleTaskService = (name: string, labels: Labels, task: TaskSpec, ports: EndpointPort[] = []): ServiceSpec => ({
  Name: name,
  Labels: labels,
  TaskTemplate: task,
  Mode: { Replicated: { Replicas: 1 } },
  UpdateConfig: { Parallelism: 1, Order: 'stop-first' },
  EndpointSpec: ports.length > 0 ? { Mode: 'dnsrr', Ports: ports } : { Mode: 'dnsrr' },
});

/** A one-shot job: one task run to completion; its restart policy says how often a failed run is tried again. */
export const oneShotJob = (name: string, labels: Labels, task: TaskSpec): ServiceSpec => ({
  Name: name,
  Labels: labels,
  TaskTemplate: task,
  Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } },
  EndpointSpec: { Mode: 'dnsrr' },
});
