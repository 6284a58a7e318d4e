/** Codes a client can branch on; they travel as GraphQL `extensions.code`. */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'VALIDATION_FAILED'
  | 'NO_POOL_CAPACITY'
  | 'DATABASE_NOT_ALLOCATED'
  | 'CREDENTIALS_NOT_FOUND'
  | 'CONFLICT'
  | 'SERVICE_UNAVAILABLE'
  /** Kill Bill could not be asked (unset, unreachable, refusing): the call can be repeated later. */
  | 'BILLING_UNAVAILABLE';

/** An error the caller caused or can act on. Its message is safe to show: it never holds a secret. */
export class DomainError extends Error {
  override readonly name = 'DomainError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export const notFound = (what: string, id: string) => new DomainError('NOT_FOUND', `${what} ${id} does not exist.`);

export const validationFailed = (field: string, rule: string) => new DomainError('VALIDATION_FAILED', `${field}: ${rule}`, field);

/** A dependency (postgres, redis, docker, a pool server) that does not answer: retry once /readyz says ok. */
export const unavailable = (dependency: string, reason: string) =>
  Object.assign(new DomainError('SERVICE_UNAVAILABLE', `${dependency} is unavailable (${reason}); try again once /readyz reports it ok.`), {
    reason,
  });
