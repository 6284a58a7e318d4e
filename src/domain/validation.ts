import type { z } from 'zod';
import { DomainError } from '../errors.js';
import { describeIssues } from '../issues.js';

/** Parses `value` or throws VALIDATION_FAILED naming every offending field and its rule. */
export function parseInput<T extends z.ZodType>(schema: T, value: unknown, prefix = 'input'): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = describeIssues(parsed.error.issues, { prefix: [prefix] });
  const field = parsed.error.issues[0]?.path.join('.');
  throw new DomainError('VALIDATION_FAILED', problems.join('; '), field ? `${prefix}.${field}` : prefix);
}
