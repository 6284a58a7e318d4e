import type { Deps } from '../deps.js';
import { recordBillingEvent, type RecordedEvent } from './events.js';
import { intentOf } from './intent.js';
import { parseNotification } from './notification.js';
import { processInBackground } from './processor.js';

/** What became of one delivery: how the transport should answer it. */
export type Reception = { kind: 'rejected'; reason: string } | { kind: 'unrecorded' } | { kind: 'recorded'; recorded: RecordedEvent };

/**
 * One Kill Bill delivery, whatever carried it: validates it, records it durably (deduped), and only then starts
 * processing it. Kill Bill redelivers on anything but success, so `recorded` means "recorded", never "done".
 */
export async function receiveNotification(deps: Deps, body: string): Promise<Reception> {
  const count = (outcome: string) => deps.metrics.webhookDeliveries.inc({ outcome });
  const parsed = parseNotification(body);
  if (!parsed.ok) {
    count('rejected');
    deps.log.warn({ event: 'billing.webhook_rejected', reason: parsed.reason }, 'webhook delivery is not a Kill Bill notification');
    return { kind: 'rejected', reason: parsed.reason };
  }

  const { notification, dedupeKey } = parsed;
  const intent = intentOf(notification);
  let recorded: RecordedEvent;
  try {
    recorded = await recordBillingEvent(deps, notification, dedupeKey, intent.kind === 'ignore' ? intent.reason : null);
  } catch (error) {
    count('unrecorded');
    deps.log.error(
      { event: 'billing.webhook_record_failed', eventType: notification.eventType, err: error },
      'could not record a billing event',
    );
    return { kind: 'unrecorded' };
  }
  deps.log.info(
    {
      event: 'billing.webhook_received',
      eventId: recorded.id,
      eventType: notification.eventType,
      objectId: notification.objectId,
      status: recorded.status,
      duplicate: recorded.duplicate,
    },
    recorded.duplicate ? 'billing event delivered again; already recorded' : 'billing event recorded',
  );
  count(recorded.duplicate ? 'duplicate' : recorded.status);
  if (!recorded.duplicate && recorded.status === 'received') processInBackground(deps, recorded.id);
  return { kind: 'recorded', recorded };
}
