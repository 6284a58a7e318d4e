import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createKillbillWebhook } from '../billing/webhook.js';
import type { Deps } from '../deps.js';
import type { Leadership } from '../jobs/leadership.js';
import { readiness } from '../observability/readiness.js';
import { callerIdentifier } from './auth.js';
import { createBackupDownload } from './backup-download.js';
import { createGraphQLHandler } from './graphql.js';
import { sendJson } from './respond.js';


const wantsHtml = (request: IncomingMessage) => request.method === 'GET' && (request.headers.accept ?? '').includes('text/html');

/** A caller's request id when it looks like one (a proxy's), else a new one; it ties the request's log lines together. */
const requestIdOf = (request: IncomingMessage): string => {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && /^[A-Za-z0-9._-]{8,100}$/.test(given) ? given : randomUUID();
};

const quietPaths = new Set(['/healthz', '/readyz', '/metrics']);

/** The daemon's HTTP surface: GraphQL (GraphiQL for admins), the Kill Bill webhook, liveness, readiness, metrics. */
export function createHttpServer(deps: Deps, leadership: Leadership): Server {
  const identifyCaller = callerIdentifier(deps.config);
  const graphql = createGraphQLHandler(deps, identifyCaller);
  const killbillWebhook = createKillbillWebhook(deps);
  const backupDownload = createBackupDownload(deps, identifyCaller);
  return createServer(async (request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const requestId = requestIdOf(request);
    const started = process.hrtime.bigint();
    response.setHeader('x-request-id', requestId);
    response.on('finish', () => {
      const line = { event: 'http.request', requestId, method: request.method, path, status: response.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 };
      if (quietPaths.has(path)) deps.log.debug(line);
      else deps.log.info(line);
    });

    if (path === '/healthz') return sendJson(response, 200, { status: 'ok', leader: leadership.isLeader() });
    if (path === '/readyz') {
      const result = await readiness(deps);
      return sendJson(response, result.ready ? 200 : 503, { status: result.ready ? 'ready' : 'not ready', ...result.checks });
    }
    if (path === '/metrics') {
      response.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
      return response.end(await deps.metrics.registry.metrics());
    }
    // Its own shared secret, not the admin token: see src/billing/webhook.ts.
    if (path === '/webhooks/killbill') return killbillWebhook(request, response);
    const download = /^\/backups\/([^/]+)\/download$/.exec(path);
    if (download) return backupDownload(request, response, download[1]!);
    if (path === '/graphql') {
      // A browser without the admin token is asked for it (Basic; the token as password) instead of getting a query error.
      if (wantsHtml(request) && (await identifyCaller(request.headers.authorization ?? null)).kind !== 'admin') {
        return sendJson(response, 401, { error: 'GraphiQL is for admins: give the admin token as the password.' }, {
          'www-authenticate': 'Basic realm="odoo-orchestrator", charset="UTF-8"',
        });
      }
      return graphql(request, response);
    }
    return sendJson(response, 404, { error: `No route for ${request.method} ${path}.` });
  });
}
