import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { describeIssues } from '../issues.js';
import { backupSection } from './backups.js';
import { billingSecretNames, billingSection } from './billing.js';
import { coreSection } from './core.js';
import { customerAuthSection } from './customer-auth.js';
import { offsiteSecretNames, offsiteSection } from './offsite.js';
import { planSection } from './plans.js';
import { poolSection } from './pools.js';
import { storageSection } from './storage.js';
import { templateSection } from './templates.js';
import { tenantSection } from './tenants.js';

export type { BackupConfig } from './backups.js';
export type { BillingConfig, KillbillApiConfig } from './billing.js';
export type { OffsiteConfig, OffsiteDestination } from './offsite.js';

/** One schema per concern; each reads its own variables and gives its part of the Config. */
export const sections = [
  coreSection,
  storageSection,
  tenantSection,
  templateSection,
  poolSection,
  customerAuthSection,
  billingSection,
  planSection,
  backupSection,
  offsiteSection,
] as const;

type UnionToIntersection<U> = (U extends unknown ? (part: U) => void : never) extends (part: infer I) => void ? I : never;

/** Everything the daemon reads from its environment, parsed once at start-up. */
export type Config = UnionToIntersection<z.output<(typeof sections)[number]>>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

type Env = Record<string, string | undefined>;

/** Variables that may come from a file (`NAME_FILE`, a Docker secret). */
export const secretNames = [
  'ADMIN_TOKEN',
  'METRICS_TOKEN',
  'MASTER_KEY',
  'MASTER_KEY_PREVIOUS',
  'JWT_SECRET',
  ...billingSecretNames,
  ...offsiteSecretNames,
];

/** `NAME_FILE` wins over `NAME`; a trailing newline in the file is not part of the value. */
function withSecretFiles(env: Env, problems: string[]): Env {
  const resolved: Env = { ...env };
  for (const name of secretNames) {
    const file = env[`${name}_FILE`];
    if (!file) continue;
    try {
      resolved[name] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      problems.push(`${name}_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  return resolved;
}

/** Parses the environment; throws a ConfigError with one line per problem, from every section at once. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const blankAsMissing = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const resolved = withSecretFiles(blankAsMissing, problems);
  const parts: object[] = [];
  for (const section of sections) {
    const parsed = section.safeParse(resolved);
    if (parsed.success) {
      parts.push(parsed.data);
      continue;
    }
    problems.push(...describeIssues(parsed.error.issues, { input: resolved }));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.assign({}, ...parts) as Config;
}
