import { DomainError, unavailable } from '../errors.js';

type Failure = Error & { code?: unknown; name: string };

// SQLSTATE classes of a connection that failed or a server shutting down, starting or overloaded.
const pgUnavailable = /^(08...|57P0[1-3]|53300|57014)$/;
// `timeout expired`: what node-postgres's client gives when a server does not let it connect within connectionTimeoutMillis.
const pgMessages =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection terminated due to connection timeout|^timeout expired$/;
const redisMessages = /Stream isn't writeable|Connection is closed|Command timed out|enableOfflineQueue/;

/**
 * What the caller should read when a dependency, not the request, made it fail: SERVICE_UNAVAILABLE naming
 * PostgreSQL or Redis, CONFLICT for a row locked past lock_timeout. Null for anything else.
 */
export function dependencyFailure(error: unknown): DomainError | null {
  if (!(error instanceof Error)) return null;
  const { code, name, message } = error as Failure;
  if (code === '55P03') return new DomainError('CONFLICT', 'Another operation holds this object right now; try again in a moment.');
  if ((typeof code === 'string' && pgUnavailable.test(code)) || pgMessages.test(message))
    return unavailable('postgres', typeof code === 'string' ? code : message);
  if (name === 'MaxRetriesPerRequestError' || redisMessages.test(message)) return unavailable('redis', message);
  return null;
}
