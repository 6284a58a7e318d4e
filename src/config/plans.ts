import { z } from 'zod';
import { int } from './rules.js';

/** What an instance gets and how many a customer may hold; how long a cancelled one waits before it is purged. */
export const planSection = z
  .object({
    DEFAULT_PLAN: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$/, 'must be 1-60 letters, digits or . _ -')
      .default('default')
      .describe('the plan of instances with no subscription or an unknown `planName`'),
    MAX_INSTANCES_PER_CUSTOMER: int(1, 100_000).default(3).describe('live instances a customer may hold'),
    TERMINATION_GRACE_SECONDS: int(0, 365 * 24 * 3600)
      .default(30 * 24 * 3600)
      .describe("a cancelled subscription's instance is purged this long after the cancellation"),
  })
  .transform((e) => ({
    plans: {
      /** The plan of an instance with no subscription, or whose Kill Bill plan is not in the catalog. */
      defaultPlan: e.DEFAULT_PLAN,
      maxInstancesPerCustomer: e.MAX_INSTANCES_PER_CUSTOMER,
      terminationGraceSeconds: e.TERMINATION_GRACE_SECONDS,
    },
  }))
  .meta({ title: 'Plans' });
