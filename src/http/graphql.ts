import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { GraphQLError, NoSchemaIntrospectionCustomRule } from 'graphql';
import { createYoga, maskError as defaultMaskError, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { Deps } from '../deps.js';
import { DomainError } from '../errors.js';
import { useOperationMetrics } from '../observability/graphql-metrics.js';
import { schema, type GraphQLContext } from '../schema/index.js';
import type { Caller } from '../access/caller.js';
import { dependencyFailure } from './dependency-errors.js';

/** Who is calling, established by the HTTP layer before yoga reads the body. */
export interface RequestContext {
  caller: Caller;
}

/** Bounds on a document, checked while parsing and validating, before anything runs. Cost is bounded by the schema. */
export const documentLimits = { bodyBytes: 100_000, tokens: 2000, depth: 10, aliases: 15 };

/** The header a browser can add only after a CORS preflight; yoga's CSRF prevention wants it on "simple" requests. */
export const CSRF_HEADER = 'x-graphql-yoga-csrf';

/** Domain errors reach the client with their code; a dependency's failure says which; anything else is logged and masked. */
function toClientError(deps: Deps) {
  return (error: unknown, message: string, isDev?: boolean): Error => {
    const graphQLError = error instanceof GraphQLError ? error : undefined;
    const original = graphQLError ? graphQLError.originalError : error;
    // Parse and validation errors (a limit reached, an unknown field) are the caller's: shown as they are.
    if (graphQLError && !original) return graphQLError;
    const known = original instanceof DomainError ? original : dependencyFailure(original);
    if (known) {
      if (known.code === 'SERVICE_UNAVAILABLE')
        deps.log.warn({ event: 'graphql.dependency_unavailable', reason: known.message }, 'request failed on a dependency');
      return new GraphQLError(known.message, {
        nodes: graphQLError?.nodes,
        path: graphQLError?.path,
        extensions: { code: known.code, ...(known.field ? { field: known.field } : {}) },
      });
    }
    deps.log.error({ event: 'graphql.unexpected_error', err: original }, 'unexpected error in a resolver');
    return defaultMaskError(error, message, isDev);
  };
}

/** Introspection and "did you mean" hints describe the schema: for admins only. */
function schemaPrivacy(): Plugin<RequestContext> {
  const suggestions = blockFieldSuggestionsPlugin();
  return {
    onValidate(payload) {
      if (payload.context.caller.kind === 'admin') return undefined;
      payload.addValidationRule(NoSchemaIntrospectionCustomRule);
      return suggestions.onValidate?.(payload);
    },
  };
}

/** CORS answers only origins CORS_ORIGINS lists; any other origin gets no CORS header, so the browser shares nothing. */
function corsPolicy(origins: string[]) {
  if (origins.length === 0) return false as const;
  return (request: Request) => {
    const origin = request.headers.get('origin');
    if (!origin || !origins.includes(origin)) return false as const;
    return {
      origin: [origin],
      credentials: true,
      methods: ['GET', 'POST'],
      allowedHeaders: ['authorization', 'content-type', CSRF_HEADER],
      maxAge: 600,
    };
  };
}

export function createGraphQLHandler(deps: Deps): YogaServerInstance<RequestContext, GraphQLContext> {
  return createYoga<RequestContext, GraphQLContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    context: ({ caller }) => ({ deps, caller }),
    graphiql: (_request, context) => context?.caller.kind === 'admin' && { title: 'Odoo orchestrator' },
    // GraphiQL's offline bundle holds about 80 MB once loaded: only an admin opening it pays for it.
    renderGraphiQL: async (options) => (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(options),
    cors: corsPolicy(deps.config.corsOrigins),
    // No uploads: a multipart body is only ever a cross-site form.
    multipart: false,
    maxRequestBodySize: documentLimits.bodyBytes,
    plugins: [
      useCSRFPrevention({ requestHeaders: [CSRF_HEADER] }),
      maxTokensPlugin({ n: documentLimits.tokens }),
      maxDepthPlugin({ n: documentLimits.depth }),
      maxAliasesPlugin({ n: documentLimits.aliases }),
      schemaPrivacy(),
      useOperationMetrics(deps.metrics),
    ],
    maskedErrors: { maskError: toClientError(deps) },
    logging: {
      debug: (...args) => deps.log.debug({ event: 'yoga', args: args.map(String) }),
      info: (...args) => deps.log.info({ event: 'yoga', args: args.map(String) }),
      warn: (...args) => deps.log.warn({ event: 'yoga', args: args.map(String) }),
      // Yoga logs every error it hands to maskError; toClientError already logs those worth an operator's look.
      error: (...args) => deps.log.debug({ event: 'yoga.error', args: args.map(String) }),
    },
  });
}
