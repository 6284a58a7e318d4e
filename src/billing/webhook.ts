import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Deps } from '../deps.js';
import { sameSecret } from '../http/auth.js';
import { sendJson as answer } from '../http/respond.js';
import { recordEvent } from './events.js';
import { intentOf } from './intent.js';
import { parseNotification } from './notification.js';
import { processInBackground } from './processor.js';

/** Kill Bill's notifications are a few hundred bytes; anything near this is not one. */
const MAX_BODY_BYTES = 64 * 1024;

type Handler = (request: IncomingMessage, response: ServerResponse) => void;


/**
 * Kill Bill signs nothing, and its callback is a bare URL: the shared secret travels in that URL (`?token=`), or in
 * `X-Webhook-Token` for a proxy that adds it, compared like the admin token (neither content nor length leaks).
 */
function presentedToken(request: IncomingMessage): string | null {
  const header = request.headers['x-webhook-token'];
  if (typeof header === 'string' && header) return header;
  return new URL(request.url ?? '/', 'http://webhook.invalid').searchParams.get('token');
}

const authorized = (request: IncomingMessage, expected: string): boolean => {
  const given = presentedToken(request);
  return given !== null && sameSecret(given, expected);
};

async function readBody(request: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  return size > MAX_BODY_BYTES ? null : Buffer.concat(chunks).toString('utf8');
}

/**
 * `POST /webhooks/killbill`: authenticates, validates, records the delivery durably, answers, and only then starts
 * processing it. Kill Bill redelivers on anything but 2xx, so 2xx means "recorded", never "done"; a delivery that
 * cannot be recorded gets 503 and comes back.
 */
export function createKillbillWebhook(deps: Deps): Handler {
  const handle = webhookHandler(deps);
  return (request, response) => {
    handle(request, response).catch((error: unknown) => {
      // A delivery cut off mid-body, say: Kill Bill sees no 2xx and delivers again.
      deps.log.error({ event: 'billing.webhook_error', err: error }, 'webhook delivery failed');
      if (!response.headersSent) answer(response, 500, { error: 'The event could not be handled; deliver it again later.' });
      else response.destroy();
    });
  };
}

function webhookHandler(deps: Deps) {
  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    if (request.method !== 'POST') return answer(response, 405, { error: 'Kill Bill notifications are POSTed.' }, { allow: 'POST' });
    const token = deps.config.billing.webhookToken;
    const count = (outcome: string) => deps.metrics.webhookDeliveries.inc({ outcome });
    if (!token) {
      count('not_configured');
      return answer(response, 503, { error: 'webhook not configured: set KILLBILL_WEBHOOK_TOKEN.' });
    }
    if (!authorized(request, token)) {
      count('unauthorized');
      deps.log.warn({ event: 'billing.webhook_unauthorized', remote: request.socket.remoteAddress }, 'webhook delivery without a valid token');
      return answer(response, 401, { error: 'A valid webhook token is required (?token= in the callback URL, or X-Webhook-Token).' });
    }

    const raw = await readBody(request);
    if (raw === null) {
      count('rejected');
      return answer(response, 413, { error: `body: must be at most ${MAX_BODY_BYTES} bytes` });
    }
    const parsed = parseNotification(raw);
    if (!parsed.ok) {
      count('rejected');
      deps.log.warn({ event: 'billing.webhook_rejected', reason: parsed.reason }, 'webhook delivery is not a Kill Bill notification');
      return answer(response, 400, { error: parsed.reason });
    }

    const { notification, dedupeKey } = parsed;
    const intent = intentOf(notification);
    let recorded;
    try {
      recorded = await recordEvent(deps, notification, dedupeKey, intent.kind === 'ignore' ? intent.reason : null);
    } catch (error) {
      count('unrecorded');
      deps.log.error({ event: 'billing.webhook_record_failed', eventType: notification.eventType, err: error }, 'could not record a billing event');
      return answer(response, 503, { error: 'The event could not be recorded; deliver it again later.' }, { 'retry-after': '60' });
    }
    deps.log.info(
      { event: 'billing.webhook_received', eventId: recorded.id, eventType: notification.eventType, objectId: notification.objectId, status: recorded.status, duplicate: recorded.duplicate },
      recorded.duplicate ? 'billing event delivered again; already recorded' : 'billing event recorded',
    );
    count(recorded.duplicate ? 'duplicate' : recorded.status);
    answer(response, 200, recorded);
    if (!recorded.duplicate && recorded.status === 'received') processInBackground(deps, recorded.id);
  };
}
