import type { IncomingMessage, ServerResponse } from 'node:http';
import { receiveNotification } from '../billing/receive.js';
import { sameSecret } from '../crypto/same-secret.js';
import type { Deps } from '../deps.js';
import { sendJson as answer } from './respond.js';

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

/** The body, or null past the limit: what is over it is read and dropped, never held. */
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
 * `POST /webhooks/killbill`: authenticates and reads the delivery, then hands it to billing. 2xx means recorded; a
 * delivery that cannot be recorded gets 503 and Kill Bill delivers it again.
 */
export function createKillbillWebhook(deps: Deps): Handler {
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    if (request.method !== 'POST') return answer(response, 405, { error: 'Kill Bill notifications are POSTed.' }, { allow: 'POST' });
    const count = (outcome: string) => deps.metrics.webhookDeliveries.inc({ outcome });
    const token = deps.config.billing.webhookToken;
    if (!token) {
      count('not_configured');
      return answer(response, 503, { error: 'webhook not configured: set KILLBILL_WEBHOOK_TOKEN.' });
    }
    if (!authorized(request, token)) {
      count('unauthorized');
      deps.log.warn(
        { event: 'billing.webhook_unauthorized', remote: request.socket.remoteAddress },
        'webhook delivery without a valid token',
      );
      return answer(response, 401, { error: 'A valid webhook token is required (?token= in the callback URL, or X-Webhook-Token).' });
    }
    const body = await readBody(request);
    if (body === null) {
      count('rejected');
      return answer(response, 413, { error: `body: must be at most ${MAX_BODY_BYTES} bytes` });
    }
    const reception = await receiveNotification(deps, body);
    if (reception.kind === 'rejected') return answer(response, 400, { error: reception.reason });
    if (reception.kind === 'unrecorded') {
      return answer(response, 503, { error: 'The event could not be recorded; deliver it again later.' }, { 'retry-after': '60' });
    }
    answer(response, 200, reception.recorded);
  };
  return (request, response) => {
    handle(request, response).catch((error: unknown) => {
      // A delivery cut off mid-body, say: Kill Bill sees no 2xx and delivers again.
      deps.log.error({ event: 'billing.webhook_error', err: error }, 'webhook delivery failed');
      if (!response.headersSent) answer(response, 500, { error: 'The event could not be handled; deliver it again later.' });
      else response.destroy();
    });
  };
}
