import { GraphQLError } from 'graphql';
import { createYoga, maskError as defaultMaskError, type YogaServerInstance } from 'graphql-yoga';
import type { Deps } from '../deps.js';
import { DomainError } from '../errors.js';
import { schema, type GraphQLContext } from '../schema/index.js';
import type { IdentifyCaller } from './auth.js';

/** Domain errors reach the client with their code; anything else is logged and masked. */
function toClientError(deps: Deps) {
  return (error: unknown, message: string, isDev?: boolean): Error => {
    const original = error instanceof GraphQLError ? error.originalError : error;
    if (original instanceof DomainError) {
      const graphQLError = error instanceof GraphQLError ? error : undefined;
      return new GraphQLError(original.message, {
        nodes: graphQLError?.nodes,
        path: graphQLError?.path,
        extensions: { code: original.code, ...(original.field ? { field: original.field } : {}) },
      });
    }
    deps.log.error({ event: 'graphql.unexpected_error', err: original }, 'unexpected error in a resolver');
    return defaultMaskError(error, message, isDev);
  };
}

export function createGraphQLHandler(deps: Deps, identifyCaller: IdentifyCaller): YogaServerInstance<Record<string, never>, GraphQLContext> {
  return createYoga<Record<string, never>, GraphQLContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    context: async ({ request }) => ({ deps, caller: await identifyCaller(request.headers.get('authorization')) }),
    graphiql: async (request) => (await identifyCaller(request.headers.get('authorization'))).kind === 'admin' && { title: 'Odoo orchestrator' },
    // GraphiQL's offline bundle holds about 80 MB once loaded: only an admin opening it pays for it.
    renderGraphiQL: async (options) => (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(options),
    maskedErrors: { maskError: toClientError(deps) },
    logging: {
      debug: (...args) => deps.log.debug({ event: 'yoga', args: args.map(String) }),
      info: (...args) => deps.log.info({ event: 'yoga', args: args.map(String) }),
      warn: (...args) => deps.log.warn({ event: 'yoga', args: args.map(String) }),
      error: (...args) => deps.log.error({ event: 'yoga', args: args.map(String) }),
    },
  });
}
