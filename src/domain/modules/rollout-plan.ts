import type { RolloutTenantStatus } from '../../db/schema.js';

/** A tenant a rollout may take: what decides whether and when. */
export interface RolloutCandidate {
  id: string;
  createdAt: Date;
  /** Staging copies go first: a new build meets a copy before it meets production. */
  stagingOf: string | null;
  pinnedImage: string | null;
}

export interface PlannedTenant {
  instanceId: string;
  position: number;
  status: Extract<RolloutTenantStatus, 'PENDING' | 'SKIPPED'>;
  error: string | null;
}

/** Pure: the order a rollout takes its tenants in (staging copies, then the oldest first); pinned ones are passed by. */
export function planRollout(candidates: readonly RolloutCandidate[]): PlannedTenant[] {
  const ordered = [...candidates].sort(
    (a, b) => Number(a.stagingOf === null) - Number(b.stagingOf === null) || a.createdAt.getTime() - b.createdAt.getTime(),
  );
  const taken = ordered.filter((candidate) => candidate.pinnedImage === null);
  const pinned = ordered.filter((candidate) => candidate.pinnedImage !== null);
  return [
    ...taken.map((candidate, position) => ({ instanceId: candidate.id, position, status: 'PENDING' as const, error: null })),
    ...pinned.map((candidate, index) => ({
      instanceId: candidate.id,
      position: taken.length + index,
      status: 'SKIPPED' as const,
      error: `pinned to ${candidate.pinnedImage}`,
    })),
  ];
}

export interface TenantProgress {
  instanceId: string;
  position: number;
  status: RolloutTenantStatus;
}

export type RolloutStep =
  | { kind: 'failed'; failed: TenantProgress; notReached: number }
  | { kind: 'wait' }
  | { kind: 'start'; tenants: TenantProgress[] }
  | { kind: 'completed' };

/**
 * Pure: what a rollout does next, a batch at a time. A batch under way is waited for (its other tenants' outcomes too,
 * when one failed); then a failed tenant stops the rollout (those not reached stay PENDING); else the next `batchSize`
 * pending tenants start; none left, it is complete.
 */
export function nextRolloutStep(tenants: readonly TenantProgress[], batchSize: number): RolloutStep {
  const failed = tenants.find((tenant) => tenant.status === 'FAILED');
  const pending = tenants.filter((tenant) => tenant.status === 'PENDING').sort((a, b) => a.position - b.position);
  if (tenants.some((tenant) => tenant.status === 'UPDATING')) return { kind: 'wait' };
  if (failed) return { kind: 'failed', failed, notReached: pending.length };
  if (pending.length === 0) return { kind: 'completed' };
  return { kind: 'start', tenants: pending.slice(0, batchSize) };
}
