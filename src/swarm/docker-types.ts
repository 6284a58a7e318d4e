/**
 * The subset of Docker Engine API 1.41 objects the daemon writes and reads, typed as Docker sends them.
 * Durations are nanoseconds; byte sizes are bytes.
 */
import type { Labels } from './labels.js';

export interface SecretReference {
  SecretID: string;
  SecretName: string;
  /** Where the secret appears inside the container, under /run/secrets. */
  File: { Name: string; UID: string; GID: string; Mode: number };
}

export interface BindMount {
  Type: 'bind';
  Source: string;
  Target: string;
  ReadOnly?: boolean;
}

export interface HealthCheck {
  Test: string[];
  Interval: number;
  Timeout: number;
  StartPeriod: number;
  Retries: number;
}

export interface ContainerSpec {
  Image: string;
  Labels?: Labels;
  /** Replaces the image's ENTRYPOINT. */
  Command?: string[];
  Args?: string[];
  Env?: string[];
  Mounts?: BindMount[];
  HealthCheck?: HealthCheck;
  Secrets?: SecretReference[];
  /** How long Docker waits after the stop signal before it kills the container. */
  StopGracePeriod?: number;
  /** `uid:gid` the container's processes run as, instead of the image's user. */
  User?: string;
  /** Capabilities taken away (`ALL`: none left), API 1.41. */
  CapabilityDrop?: string[];
}

export interface ResourceAmounts {
  NanoCPUs: number;
  MemoryBytes: number;
}

export interface RestartPolicy {
  Condition: 'none' | 'on-failure' | 'any';
  Delay: number;
  MaxAttempts: number;
  /** Nanoseconds over which MaxAttempts counts; 0 counts for the task's whole life. */
  Window?: number;
}

export interface NetworkAttachment {
  Target: string;
  Aliases?: string[];
}

export interface Placement {
  /** Node constraints such as `node.labels.postgres==true`; a task runs only where all of them hold. */
  Constraints?: string[];
}

export interface TaskSpec {
  ContainerSpec: ContainerSpec;
  Resources?: { Limits?: ResourceAmounts; Reservations?: ResourceAmounts };
  RestartPolicy?: RestartPolicy;
  Placement?: Placement;
  Networks?: NetworkAttachment[];
  /** Bumped to make Swarm replace the tasks without any other change (a restart). */
  ForceUpdate?: number;
}

export interface UpdateConfig {
  Parallelism: number;
  Order: 'stop-first' | 'start-first';
}

/** A published port. Only `host` mode works here: `ingress` needs the routing mesh, which needs IPVS. */
export interface EndpointPort {
  Protocol: 'tcp' | 'udp' | 'sctp';
  TargetPort: number;
  PublishedPort?: number;
  PublishMode?: 'ingress' | 'host';
}

export interface ServiceSpec {
  Name: string;
  Labels: Labels;
  TaskTemplate: TaskSpec;
  /** A long-running service keeps `Replicas` tasks; a job runs tasks until `TotalCompletions` of them completed. */
  Mode: { Replicated: { Replicas: number } } | { ReplicatedJob: { MaxConcurrent: number; TotalCompletions: number } };
  UpdateConfig?: UpdateConfig;
  /** `dnsrr` because this kernel has no IPVS: virtual IPs and the routing mesh do not work. */
  EndpointSpec?: { Mode: 'vip' | 'dnsrr'; Ports?: EndpointPort[] };
}

export interface SwarmService {
  ID: string;
  Version: { Index: number };
  CreatedAt: string;
  UpdatedAt: string;
  Spec: ServiceSpec;
}

export interface SwarmSecret {
  ID: string;
  CreatedAt?: string;
  Spec: { Name: string; Labels: Labels };
}

export const taskStates = [
  'new',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'ready',
  'starting',
  'running',
  'complete',
  'shutdown',
  'failed',
  'rejected',
  'remove',
  'orphaned',
] as const;
export type TaskState = (typeof taskStates)[number];

export interface SwarmTask {
  ID: string;
  ServiceID: string;
  Slot?: number;
  CreatedAt: string;
  UpdatedAt: string;
  DesiredState: TaskState;
  Status: {
    Timestamp: string;
    State: TaskState;
    Message: string;
    /** Why the task failed or was rejected, as Docker reports it. */
    Err?: string;
    ContainerStatus?: { ContainerID?: string; ExitCode?: number };
  };
  Spec?: { ContainerSpec?: { Env?: string[] }; Resources?: { Limits?: { NanoCPUs?: number; MemoryBytes?: number } } };
}
