import { getBillingEvent } from '../../src/billing/events.js';
import { backgroundBillingWork } from '../../src/billing/processor.js';
import type { BillingEventRow } from '../../src/db/schema.js';
import { eventually, resetState, startTestDaemon, type TestDaemon } from './harness.js';
import { startKillbillFake, type KillbillFake } from './killbill-fake.js';
import { webhookToken } from './killbill-notifications.js';

/** A suite's daemon and the Kill Bill fake it reads billing facts from. */
export interface BillingDaemon {
  fake: KillbillFake;
  daemon: TestDaemon;
}

/** Tables a suite fills besides instances, pools and billing events, emptied with them. */
type ExtraTable = 'plans';

/** A fresh Kill Bill fake and a daemon pointed at it, taking notifications signed with `webhookToken`. */
export async function startBillingDaemon(env: Record<string, string>): Promise<BillingDaemon> {
  const fake = await startKillbillFake();
  const daemon = await startTestDaemon({ ...fake.env, KILLBILL_WEBHOOK_TOKEN: webhookToken, ...env });
  return { fake, daemon };
}

/** Lets the billing work a webhook started finish, then empties what the suite made (the fake's state included). */
export async function resetBilling({ fake, daemon }: BillingDaemon, extraTables: ExtraTable[] = []): Promise<void> {
  await backgroundBillingWork(daemon.deps);
  await resetState(daemon.deps);
  await daemon.deps.db.deleteFrom('billing_events').execute();
  for (const table of extraTables) await daemon.deps.db.deleteFrom(table).execute();
  fake.reset();
}

export async function stopBillingDaemon(billing: BillingDaemon, extraTables: ExtraTable[] = []): Promise<void> {
  await resetBilling(billing, extraTables);
  await billing.daemon.stop();
  await billing.fake.close();
}

/** Waits for the processing the webhook started; the event is then settled or failed. */
export async function settledBillingEvent(daemon: TestDaemon, id: string): Promise<BillingEventRow> {
  await backgroundBillingWork(daemon.deps);
  return eventually(
    async () => (await getBillingEvent(daemon.deps, id))!,
    (event) => event.status !== 'received',
    30_000,
  );
}
