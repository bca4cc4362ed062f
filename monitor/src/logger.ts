/**
 * The monitor's stdout, with winston (SPEC "Logs"): `text` is one readable line per event,
 * `<ISO-8601 time> <level> <message>`; `json` is one object per line with `time`, `level`,
 * `msg`, `event` and the event's fields.
 */
import type { Writable } from 'node:stream';
import winston from 'winston';
import type { LogFormat, LogLevel } from './config';

/** Every line names its event, so json consumers can filter without parsing words. */
export type LogEvent = 'start' | 'stop' | 'probe' | 'proxy' | 'skip' | 'transition' | 'late' | 'listen' | 'error' | 'alert' | 'control' | 'events' | 'admin';

export interface LogFields {
  readonly event: LogEvent;
  readonly [field: string]: unknown;
}

export interface Logger {
  error(msg: string, fields: LogFields): void;
  warn(msg: string, fields: LogFields): void;
  info(msg: string, fields: LogFields): void;
  debug(msg: string, fields: LogFields): void;
}

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** where lines go; stdout in production, a buffer in tests */
  readonly stream?: Writable;
}

const text = winston.format.printf(({ timestamp, level, message }) => `${String(timestamp)} ${level} ${String(message)}`);

const json = winston.format.printf(({ timestamp, level, message, ...fields }) =>
  JSON.stringify({ time: timestamp, level, msg: message, ...fields }),
);

export function createLogger(options: LoggerOptions): Logger {
  return winston.createLogger({
    level: options.level,
    levels: { error: 0, warn: 1, info: 2, debug: 3 },
    format: winston.format.combine(winston.format.timestamp(), options.format === 'json' ? json : text),
    transports: [new winston.transports.Stream({ stream: options.stream ?? process.stdout })],
  });
}

/** Milliseconds as seconds for people: one decimal at most (`7.9`, `10`). */
export function formatSeconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

/**
 * A route's logger (SPEC "Routes": logs name the route when there is more than one): every line
 * starts with `[<route>] ` and carries a `route` field. With one route, the logger as it is.
 */
export function routeLogger(logger: Logger, route: string, named: boolean): Logger {
  if (!named) return logger;
  const prefix = `[${route}] `;
  return {
    error: (msg, fields) => logger.error(prefix + msg, { ...fields, route }),
    warn: (msg, fields) => logger.warn(prefix + msg, { ...fields, route }),
    info: (msg, fields) => logger.info(prefix + msg, { ...fields, route }),
    debug: (msg, fields) => logger.debug(prefix + msg, { ...fields, route }),
  };
}
