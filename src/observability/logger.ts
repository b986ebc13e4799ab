// pino JSON logs on stderr (stdout is the data channel for print and sinks); level from LOG_LEVEL.
import pino, { type Logger } from 'pino';

/** Field paths whose values never reach a log line. */
export const REDACT_PATHS = [
  'password', '*.password', 'sasl.password', '*.sasl.password', 'token', '*.token', 'secret', '*.secret',
];

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = opts.level ?? process.env['LOG_LEVEL'] ?? 'info';
  return pino({
    level,
    base: { svc: 'kisflow' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  }, opts.destination ?? pino.destination({ fd: 2, sync: true }));
}

/** A logger that writes nothing: for tests and the driver, unless they ask for logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
