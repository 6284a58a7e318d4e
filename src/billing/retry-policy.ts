/**
 * How long a failed event waits before its next try: doubling from `baseSeconds` with each failure, never more than
 * `maxSeconds`. The number of tries is bounded by BILLING_MAX_ATTEMPTS (see the processor).
 */
export function retryDelaySeconds(failedAttempts: number, baseSeconds: number, maxSeconds: number): number {
  const exponent = Math.min(Math.max(failedAttempts - 1, 0), 30);
  return Math.min(maxSeconds, baseSeconds * 2 ** exponent);
}
