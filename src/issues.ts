import type { z } from 'zod';

type Issue = z.ZodError['issues'][number];

export interface IssueWording {
  /** Path segments put before each issue's own path (say, `input` for a GraphQL argument). */
  prefix?: PropertyKey[];
  /** The name of the whole value, for an issue about it rather than one field of it. */
  whole?: string;
  /** The value parsed: a top-level field absent from it reads "is required" rather than zod's type complaint. */
  input?: Record<string, unknown>;
}

/** One "field: rule" line per zod issue, the way every edge (config, GraphQL input, webhook body) words a refusal. */
export function describeIssues(issues: readonly Issue[], wording: IssueWording = {}): string[] {
  return issues.map((issue) => {
    const field = [...(wording.prefix ?? []), ...issue.path].map(String).join('.') || (wording.whole ?? 'value');
    const missing =
      wording.input !== undefined &&
      issue.code === 'invalid_type' &&
      issue.path.length === 1 &&
      wording.input[String(issue.path[0])] === undefined;
    return `${field}: ${missing ? 'is required' : issue.message}`;
  });
}
