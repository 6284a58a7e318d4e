import pino, { type DestinationStream, type Logger } from 'pino';

/** Every key under which a secret could travel; pino replaces its value before the line is written. */
export const redactedPaths = [
  'password',
  'db_password',
  'dbPassword',
  'adminPassword',
  'admin_password',
  'token',
  'authorization',
  'masterKey',
  'adminToken',
  '*.password',
  '*.db_password',
  '*.dbPassword',
  '*.adminPassword',
  '*.admin_password',
  '*.token',
  '*.authorization',
  '*.masterKey',
  '*.adminToken',
  'req.headers.authorization',
  'variables.input.adminPassword',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: redactedPaths, censor: '[redacted]' } }, destination);
}

export type { Logger };
