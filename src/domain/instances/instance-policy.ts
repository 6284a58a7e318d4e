import type { InstanceStatus } from '../../db/schema.js';
import { instanceMoves } from './instance-status.js';

/**
 * Which statuses each rule about instances holds for: the one table the domain, billing, the jobs and their SQL read
 * (docs/states.md shows it beside the transitions). A rule that leads to a move names only statuses that move allows.
 */
export const instancePolicy = {
  /** The scheduler follows it until Docker shows its end state. */
  inFlight: ['PROVISIONING', 'STARTING', 'RESTARTING', 'STOPPING'],
  /** Its service should be running: the scheduler checks that its task still runs. */
  serving: ['RUNNING', 'DEGRADED'],
  /**
   * The reconciler takes a step with it at every tick: waiting for its database (or its caller gone mid-allocation), in
   * flight, serving, being terminated, or stopped on purpose (a service that still runs is stopped again).
   */
  reconciled: [
    'CREATING',
    'WAITING_FOR_DATABASE',
    'PROVISIONING',
    'STARTING',
    'RESTARTING',
    'STOPPING',
    'RUNNING',
    'DEGRADED',
    'STOPPED',
    'SUSPENDED',
    'TERMINATING',
  ],
  /** Gone or going: no action (billing's, a customer's) applies to it any more. */
  ended: ['TERMINATING', 'TERMINATED'],
  /**
   * A customer's limit no longer counts it: only what is gone. A TERMINATING instance still holds its database and
   * subscription until its final backup allows the drop, so terminating cannot make room for more.
   */
  released: ['TERMINATED'],
  /** Its files and database exist (or may) and count against its plan's storage: allocated, and not going. */
  storageMeasured: [
    'ALLOCATED',
    'PROVISIONING',
    'RUNNING',
    'DEGRADED',
    'STOPPING',
    'STOPPED',
    'STARTING',
    'RESTARTING',
    'SUSPENDED',
    'RESTORING',
    'FAILED',
  ],
  /** `stopInstance` changes nothing: it is stopped or on its way. */
  stopped: ['STOPPING', 'STOPPED', 'SUSPENDED'],
  /** `startInstance` changes nothing: it runs or is on its way. */
  started: ['STARTING', 'RUNNING', 'DEGRADED', 'RESTARTING', 'PROVISIONING'],
  /** `restartInstance` changes nothing: a restart is under way. */
  restarting: ['RESTARTING'],
  /** `provisionInstance` starts it: allocated and never started, or failed. */
  provisionable: instanceMoves.provision.from,
  /** `provisionInstance` changes nothing: it is on its way or there. */
  provisioned: ['PROVISIONING', 'RUNNING', 'DEGRADED', 'STOPPING', 'STOPPED', 'STARTING', 'RESTARTING', 'SUSPENDED', 'RESTORING'],
  /** A paid or trial subscription provisions it; the others are on their way, there, or stopped on purpose. */
  provisionedByBilling: ['CREATING', 'WAITING_FOR_DATABASE', 'ALLOCATED', 'FAILED'],
  /** Its database can be backed up: it has one, and it is not being replaced or dropped. */
  backupable: ['ALLOCATED', 'PROVISIONING', 'RUNNING', 'DEGRADED', 'STOPPING', 'STOPPED', 'STARTING', 'RESTARTING', 'SUSPENDED', 'FAILED'],
  /** It is backed up at BACKUP_CRON. */
  backedUpOnSchedule: ['RUNNING', 'DEGRADED', 'SUSPENDED'],
  /** Its data can be replaced from a backup: it has a service to stop and to start again. */
  restorable: instanceMoves.restore.from,
  /** Its modules can be changed: it has a server to stop and to give back as it was. */
  moduleChangeable: instanceMoves.changeModules.from,
  /** A module change's tenant passes through it before it settles, given back. */
  settlingAfterChange: ['RESTORING', 'STARTING', 'RESTARTING'],
  /** A rollout's tenant is on its way to running: its check waits. */
  startingAfterRollout: ['STARTING', 'RESTARTING'],
  /** A rollout's tenant can be rolled back (stopped first). */
  rollbackable: instanceMoves.rollBack.from,
  /** A staging copy can be made of it: it has an initialised database to back up. */
  stagingSource: ['RUNNING', 'DEGRADED', 'STOPPED'],
  /** A staging copy in it has not been provisioned yet (its load may still run). */
  beforeFirstStart: ['CREATING', 'WAITING_FOR_DATABASE', 'ALLOCATED', 'RESTORING'],
  /** Its admin's password can be reset, once its database is initialised: it is not being replaced, suspended or dropped. */
  adminPasswordResettable: ['PROVISIONING', 'RUNNING', 'DEGRADED', 'STOPPING', 'STOPPED', 'STARTING', 'RESTARTING', 'FAILED'],
  /** Over its storage limit, it is suspended (STORAGE_OVER_LIMIT=suspend). */
  suspendedOverStorage: ['RUNNING', 'DEGRADED', 'STOPPED', 'STARTING', 'RESTARTING', 'FAILED'],
  /** A plan change restarts its server with the new limits. */
  restartedByResize: instanceMoves.resize.from,
} as const satisfies Record<string, readonly InstanceStatus[]>;

export type InstanceRule = keyof typeof instancePolicy;

/** The statuses `rule` holds for, as a list a query or a caller can keep. */
export const statusesWhere = (rule: InstanceRule): InstanceStatus[] => [...instancePolicy[rule]];

/** Whether `rule` holds for an instance in `status`. */
export const allows = (rule: InstanceRule, status: InstanceStatus): boolean =>
  (instancePolicy[rule] as readonly InstanceStatus[]).includes(status);
