import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Deps } from '../deps.js';
import { identifyCaller } from './auth.js';
import { createGraphQLHandler } from './graphql.js';

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  response.end(JSON.stringify(body));
}

const wantsHtml = (request: IncomingMessage) => request.method === 'GET' && (request.headers.accept ?? '').includes('text/html');

/** The daemon's HTTP surface: GraphQL (GraphiQL for admins), liveness. */
export function createHttpServer(deps: Deps): Server {
  const graphql = createGraphQLHandler(deps);
  return createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/healthz') return sendJson(response, 200, { status: 'ok' });
    if (path === '/graphql') {
      // A browser without the admin token is asked for it (Basic; the token as password) instead of getting a query error.
      if (wantsHtml(request) && identifyCaller(request.headers.authorization ?? null, deps.config.adminToken).kind !== 'admin') {
        return sendJson(response, 401, { error: 'GraphiQL is for admins: give the admin token as the password.' }, {
          'www-authenticate': 'Basic realm="odoo-orchestrator", charset="UTF-8"',
        });
      }
      return graphql(request, response);
    }
    return sendJson(response, 404, { error: `No route for ${request.method} ${path}.` });
  });
}
