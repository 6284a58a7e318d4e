import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createKillbillWebhook } from './killbill-webhook.js';
import type { Deps } from '../deps.js';
import type { Leadership } from '../jobs/leadership.js';
import { readiness } from '../observability/readiness.js';
import { sameSecret } from '../crypto/same-secret.js';
import { bearerToken, callerIdentifier } from './auth.js';
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

const fixedRoutes = new Set(['/graphql', '/webhooks/killbill', '/healthz', '/readyz', '/metrics']);

/** The route a path belongs to, as a metric label: a bounded set, whatever paths callers send. */
export const routeOf = (path: string): string => {
  if (fixedRoutes.has(path)) return path;
  if (/^\/backups\/[^/]+\/download$/.test(path)) return '/backups/{id}/download';
  return 'other';
};

/** Whether `authorization` carries METRICS_TOKEN or the admin token, as a Bearer token. */
function metricsAllowed(config: Pick<Deps['config'], 'metricsToken' | 'adminToken'>, authorization: string | undefined): boolean {
  const token = bearerToken(authorization);
  if (!token) return false;
  return sameSecret(token, config.adminToken) || (config.metricsToken !== null && sameSecret(token, config.metricsToken));
}

/** Refused before the body is read: no root field is open to anonymous callers, so nothing is worth parsing for them. */
const anonymousRefusal = {
  errors: [
    {
      message: 'A bearer token is required: the admin token, or a customer token from the frontend.',
      extensions: { code: 'UNAUTHENTICATED' },
    },
  ],
};

/** The daemon's HTTP surface: GraphQL (GraphiQL for admins), the Kill Bill webhook, backup downloads, liveness, readiness, metrics. */
/** Longer than the proxy in front keeps an idle connection (Traefik: 90 s). */
const KEEP_ALIVE_MS = 95_000;

export function createHttpServer(deps: Deps, leadership: Leadership): Server {
  const identifyCaller = callerIdentifier(deps.config);
  const graphql = createGraphQLHandler(deps);
  const killbillWebhook = createKillbillWebhook(deps);
  const backupDownload = createBackupDownload(deps, identifyCaller);

  const handle = async (request: IncomingMessage, response: ServerResponse, path: string): Promise<void> => {
    if (path === '/healthz') return sendJson(response, 200, { status: 'ok', leader: leadership.isLeader() });
    if (path === '/readyz') {
      const result = await readiness(deps);
      return sendJson(response, result.ready ? 200 : 503, {
        status: result.ready ? 'ready' : 'not ready',
        ...result.checks,
        ...result.notes,
      });
    }
    if (path === '/metrics') {
      // Tenants' containers share the overlay with the daemon: the figures (instance ids among them) are not theirs.
      if (!metricsAllowed(deps.config, request.headers.authorization))
        return sendJson(
          response,
          401,
          { error: 'A bearer token is required: METRICS_TOKEN, or the admin token.' },
          { 'www-authenticate': 'Bearer' },
        );
      const body = await deps.metrics.registry.metrics();
      response.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
      return void response.end(body);
    }
    // Its own shared secret, not the admin token: see src/http/killbill-webhook.ts.
    if (path === '/webhooks/killbill') return killbillWebhook(request, response);
    const download = /^\/backups\/([^/]+)\/download$/.exec(path);
    if (download) return backupDownload(request, response, download[1]!);
    if (path === '/graphql') {
      const caller = await identifyCaller(request.headers.authorization ?? null);
      // A browser without the admin token is asked for it (Basic; the token as password) instead of getting a query error.
      if (wantsHtml(request) && caller.kind !== 'admin') {
        return sendJson(
          response,
          401,
          { error: 'GraphiQL is for admins: give the admin token as the password.' },
          {
            'www-authenticate': 'Basic realm="odoo-orchestrator", charset="UTF-8"',
          },
        );
      }
      // A CORS preflight carries no credentials: yoga answers it from CORS_ORIGINS.
      if (caller.kind === 'anonymous' && request.method !== 'OPTIONS') return sendJson(response, 401, anonymousRefusal);
      return graphql(request, response, { caller });
    }
    return sendJson(response, 404, { error: `No route for ${request.method} ${path}.` });
  };

  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const requestId = requestIdOf(request);
    const started = process.hrtime.bigint();
    response.setHeader('x-request-id', requestId);
    response.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const labels = { method: request.method ?? 'OTHER', route: routeOf(path) };
      deps.metrics.httpRequests.inc({ ...labels, code: String(response.statusCode) });
      deps.metrics.httpSeconds.observe(labels, ms / 1000);
      const line = { event: 'http.request', requestId, method: request.method, path, status: response.statusCode, ms };
      if (quietPaths.has(path)) deps.log.debug(line);
      else deps.log.info(line);
    });
    handle(request, response, path).catch((error: unknown) => {
      deps.log.error({ event: 'http.handler_failed', requestId, path, err: error }, 'request handler failed');
      if (!response.headersSent) sendJson(response, 500, { error: 'The request could not be handled.' });
      else response.destroy();
    });
  });
  // Traefik keeps a connection to the daemon up to 90 s idle: closing it sooner (Node's 5 s) races a request Traefik
  // sends on it just then, which its client gets as a 502.
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  return server;
}
