/**
 * What every test daemon (in process, in a child process, in the stack) is configured with for this machine and to be
 * quick about Swarm. Docker checks a test tenant's Odoo every second, not every 5 s: each start waits for its first passing check, and
 * the suites start Odoo some sixty times. What RUNNING means does not change.
 */
export const testTimings = {
  ODOO_HEALTH_INTERVAL_SECONDS: '1',
  // Four suites at once on two cores with one loop-backed OSD: CephFS takes longer than the default 3 s to sync the
  // check's file at times, and storage would read unavailable though it is only slow. The fault suite sets its own.
  STORAGE_CHECK_TIMEOUT_MS: '10000',
};

/** The stack's own replicas are live at their first passing health check too (the stack file's default is 10 s). */
export const stackTimings = { ...testTimings, ORCHESTRATOR_HEALTH_INTERVAL: '2s' };
