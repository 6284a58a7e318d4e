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

/**
 * Lines go to stdout as they are logged (pino's default destination writes asynchronously: at process.exit it writes
 * what is queued ahead of the line still on its way, so the last lines of a shutdown came out of order or were lost).
 */
export function createLogger(level: string, destination: DestinationStream = pino.destination({ dest: 1, sync: true })): Logger {
  return pino({ level, redact: { paths: redactedPaths, censor: '[redacted]' } }, destination);
}

export type { Logger };
