import { sql, type RawBuilder } from 'kysely';
import type { InstanceCondition, InstanceConditions, InstancePhase } from '../../db/schema.js';

/**
 * An instance's conditions as SQL for a write: `phase` now says `reason` (null: nothing is wrong with it any more),
 * and the phases a new attempt answers are cleared. A reason written again keeps its `since`, so it says how long the
 * problem has lasted.
 */
export function conditionsWith(phase: InstancePhase, reason: string | null, clears: InstancePhase[] = []): RawBuilder<InstanceConditions> {
  const others = sql<InstanceConditions>`conditions - ${[phase, ...clears]}::text[]`;
  if (reason === null) return others;
  return sql<InstanceConditions>`${others} || jsonb_build_object(${phase}::text, case
    when conditions -> ${phase} ->> 'reason' = ${reason}::text then conditions -> ${phase}
    else jsonb_build_object('reason', ${reason}::text, 'since', now()) end)`;
}

/** SQL for a write that leaves nothing wrong (an instance removed). */
export const noConditions = (): RawBuilder<InstanceConditions> => sql<InstanceConditions>`'{}'::jsonb`;

/** Pure: what is wrong with the instance in `phase`, or null. */
export const reasonIn = (instance: { conditions: InstanceConditions }, phase: InstancePhase): string | null =>
  instance.conditions[phase]?.reason ?? null;

/** Pure: the conditions, oldest first. */
export const conditionList = (conditions: InstanceConditions): (InstanceCondition & { phase: InstancePhase })[] =>
  (Object.entries(conditions) as [InstancePhase, InstanceCondition][])
    .map(([phase, condition]) => ({ phase, ...condition }))
    .sort((a, b) => Date.parse(a.since) - Date.parse(b.since));

/** Pure: the reason of the newest condition: what went wrong last, or null when nothing is wrong. */
export const latestReason = (conditions: InstanceConditions): string | null => conditionList(conditions).at(-1)?.reason ?? null;
