import { instanceStatuses, type InstanceStatus } from '../../db/schema.js';

interface Move {
  from: readonly InstanceStatus[];
  to: InstanceStatus;
}

const live = instanceStatuses.filter((status) => status !== 'TERMINATING' && status !== 'TERMINATED');

/**
 * Every move an instance can make, by name: the statuses it leaves and the one it reaches. `moveInstance` takes a move
 * by name and refuses it from any other status; the transition table (and docs/states.md, `npm run docs:states`) is
 * drawn from this, and a unit test checks that every move has a caller.
 */
export const instanceMoves = {
  /** No pool has room yet: the reconciler tries again at its next tick. */
  awaitDatabase: { from: ['CREATING'], to: 'WAITING_FOR_DATABASE' },
  /** Its role and database exist on a pool. */
  allocate: { from: ['CREATING', 'WAITING_FOR_DATABASE'], to: 'ALLOCATED' },
  /** `provisionInstance`: its init job (or its template's copy) starts; again after a failure. */
  provision: { from: ['ALLOCATED', 'FAILED'], to: 'PROVISIONING' },
  /** Its init job failed, or the staging copy it makes is not neutral. */
  failInitialisation: { from: ['PROVISIONING'], to: 'FAILED' },
  /** The reconciler: its task runs (healthy). */
  arrive: { from: ['PROVISIONING', 'STARTING', 'RESTARTING', 'DEGRADED'], to: 'RUNNING' },
  /** The reconciler: its task does not run while Swarm restarts it, or runs on a dead mount. */
  degrade: { from: ['RUNNING'], to: 'DEGRADED' },
  /** The reconciler: no task of it runs any more. */
  settleStop: { from: ['STOPPING'], to: 'STOPPED' },
  /** The reconciler: Swarm gave up, or the deadline passed. */
  fail: { from: ['PROVISIONING', 'STARTING', 'RESTARTING', 'STOPPING', 'RUNNING', 'DEGRADED'], to: 'FAILED' },
  /** `stopInstance`. */
  stop: { from: ['RUNNING', 'DEGRADED'], to: 'STOPPING' },
  /** `startInstance`. */
  start: { from: ['STOPPED'], to: 'STARTING' },
  /** `restartInstance`: a fresh task. */
  restart: { from: ['RUNNING', 'DEGRADED', 'FAILED'], to: 'RESTARTING' },
  /** A plan change restarts its server with the new limits. */
  resize: { from: ['RUNNING', 'DEGRADED', 'FAILED'], to: 'RESTARTING' },
  /** Billing stops it (a restore under way takes the suspension when it gives the instance back). */
  suspend: { from: ['RUNNING', 'DEGRADED', 'STOPPING', 'STOPPED', 'STARTING', 'RESTARTING', 'FAILED'], to: 'SUSPENDED' },
  /** Billing (or an admin) brings it back. */
  resume: { from: ['SUSPENDED'], to: 'STARTING' },
  /** `restoreInstance`: its data is replaced from a backup. */
  restore: { from: ['RUNNING', 'DEGRADED', 'STOPPED', 'FAILED'], to: 'RESTORING' },
  /** A new instance's data is loaded from a backup before its first start. */
  load: { from: ['ALLOCATED'], to: 'RESTORING' },
  /** A module change stops it and backs it up first. */
  changeModules: { from: ['RUNNING', 'DEGRADED', 'STOPPED'], to: 'RESTORING' },
  /** A rollout's tenant goes back to the build it ran with its data. */
  rollBack: { from: ['RUNNING', 'DEGRADED', 'FAILED'], to: 'RESTORING' },
  /** A loaded new instance waits for provisioning. */
  loaded: { from: ['RESTORING'], to: 'ALLOCATED' },
  /** A load that failed, or whose backup was refused. */
  failLoad: { from: ['CREATING', 'WAITING_FOR_DATABASE', 'ALLOCATED', 'RESTORING'], to: 'FAILED' },
  /** After a restore or module change: it runs again. */
  giveBackRunning: { from: ['RESTORING'], to: 'STARTING' },
  /** After a restore or module change: stopped, as it was. */
  giveBackStopped: { from: ['RESTORING'], to: 'STOPPED' },
  /** After a restore or module change: suspended, as billing asked meanwhile. */
  giveBackSuspended: { from: ['RESTORING'], to: 'SUSPENDED' },
  /** Ended by an admin, its customer, the purge or a staging expiry. */
  terminate: { from: live, to: 'TERMINATING' },
  /** Its final backup done (or waived), everything of it is removed. */
  remove: { from: ['TERMINATING'], to: 'TERMINATED' },
} as const satisfies Record<string, Move>;

export type InstanceMove = keyof typeof instanceMoves;

/** Whether an instance in `status` can make `move`. */
export const canMove = (move: InstanceMove, status: InstanceStatus): boolean =>
  (instanceMoves[move].from as readonly InstanceStatus[]).includes(status);

/** Which status may follow which, drawn from the moves (in the order of the statuses, then of the moves). */
export const instanceTransitions: Readonly<Record<InstanceStatus, readonly InstanceStatus[]>> = Object.fromEntries(
  instanceStatuses.map((from) => {
    const moves: readonly Move[] = Object.values(instanceMoves);
    const targets = new Set(moves.filter((move) => move.from.includes(from)).map((move) => move.to));
    return [from, instanceStatuses.filter((to) => targets.has(to))];
  }),
) as unknown as Record<InstanceStatus, readonly InstanceStatus[]>;

export const canTransition = (from: InstanceStatus, to: InstanceStatus): boolean => instanceTransitions[from].includes(to);

/** A reserved slot is not an allocation yet: its role and database may still be in the making. */
export const isAllocated = (instance: { db_allocation: 'reserved' | 'ready' | null }): boolean => instance.db_allocation === 'ready';
