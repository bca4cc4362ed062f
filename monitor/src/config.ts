/**
 * Configuration, parsed once at the edge into a typed, frozen object (SPEC "Configuration").
 * Nothing else in the monitor reads the environment.
 */
import { isIP } from 'node:net';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'text' | 'json';

export interface Config {
  /** upstream base URL without a trailing slash, e.g. `http://nginx:80` */
  readonly upstream: string;
  /** what the probe GETs: upstream + PROBE_PATH */
  readonly probeUrl: string;
  readonly probePath: string;
  readonly errorThreshold: number;
  readonly successThreshold: number;
  readonly halfOpenMaxCalls: number;
  readonly timeWindowMs: number;
  readonly probeIntervalMs: number;
  readonly requestTimeoutMs: number;
  readonly acceptClientErrors: boolean;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  /** 0 = off */
  readonly adminPort: number;
  /** 0 = off */
  readonly proxyPort: number;
  /** the IP address both servers listen on: loopback unless told otherwise (the image says 0.0.0.0) */
  readonly listenAddress: string;
}

export type ConfigResult = { readonly ok: true; readonly config: Config } | { readonly ok: false; readonly errors: readonly string[] };

type Env = Readonly<Record<string, string | undefined>>;

/** setTimeout cannot wait longer than 2^31-1 ms; a day is far beyond any sensible setting. */
const MAX_SECONDS = 86_400;
/**
 * Timers count whole milliseconds; anything smaller becomes 0 ms: a TIME_WINDOW the breaker
 * refuses at start (a crash instead of exit 78), a REQUEST_TIMEOUT that aborts every call, a
 * PROBE_INTERVAL that spins the loop.
 */
const MIN_SECONDS = 0.001;

/** A parser accepts the trimmed text and returns its value, or undefined when it is not valid. */
interface Parser<T> {
  /** what is accepted, for the error line */
  readonly accepts: string;
  parse(text: string): T | undefined;
}

const integerAtLeast = (min: number): Parser<number> => ({
  accepts: `an integer >= ${min}`,
  parse: (text) => (/^\d+$/.test(text) && Number(text) >= min && Number.isSafeInteger(Number(text)) ? Number(text) : undefined),
});

const secondsToMs: Parser<number> = {
  accepts: `a number of seconds >= ${MIN_SECONDS} and <= ${MAX_SECONDS} (decimals allowed, e.g. 0.5)`,
  parse: (text) => {
    const seconds = Number(text);
    // checked on the seconds as written, not on the rounded ms, so 0.0009999 is refused like 0.0009
    if (!/^(\d+(\.\d*)?|\.\d+)$/.test(text) || !(seconds >= MIN_SECONDS) || seconds > MAX_SECONDS) return undefined;
    return Math.round(seconds * 1_000_000) / 1000;
  },
};

const port: Parser<number> = {
  accepts: 'a port 1-65535, or 0 to turn it off',
  parse: (text) => (/^\d+$/.test(text) && Number(text) <= 65535 ? Number(text) : undefined),
};

const oneOf = <T>(accepts: string, values: Readonly<Record<string, T>>): Parser<T> => ({
  accepts,
  parse: (text) => (Object.hasOwn(values, text.toLowerCase()) ? values[text.toLowerCase()] : undefined),
});

const boolean = oneOf('true, false, 1, 0, yes or no (any case)', { true: true, false: false, '1': true, '0': false, yes: true, no: false });

const logLevel = oneOf<LogLevel>('error, warn (or warning), info or debug (any case)', {
  error: 'error',
  warn: 'warn',
  warning: 'warn',
  info: 'info',
  debug: 'debug',
});

const logFormat = oneOf<LogFormat>('text or json', { text: 'text', json: 'json' });

const probePath: Parser<string> = {
  accepts: 'a path starting with / (no spaces, no #), e.g. /health',
  // eslint-disable-next-line no-control-regex
  parse: (text) => (text.startsWith('/') && !/[\s\u0000-\u001f\u007f#]/.test(text) ? text : undefined),
};

/** An IP literal, not a name: a name may resolve to several addresses, or to none at start. */
const ipAddress: Parser<string> = {
  accepts: 'an IPv4 or IPv6 address, without brackets: 127.0.0.1 or ::1 (this machine only), 0.0.0.0 (every IPv4 interface), :: (every interface), or one interface\'s address',
  parse: (text) => (isIP(text) !== 0 ? text : undefined),
};

// `_` is allowed because compose service names may contain it, and the URL form accepts it too
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?):(\d+)$/;

/** `host:port` becomes `http://host:port`; a URL keeps its scheme and base path. */
const upstream: Parser<string> = {
  accepts: 'host:port with port 1-65535 (e.g. nginx:80), or an http:// or https:// URL without credentials, query or fragment',
  parse: (text) => {
    if (/^https?:\/\//i.test(text)) {
      const url = URL.canParse(text) ? new URL(text) : undefined;
      // URL accepts port 0 (and drops a default port, leaving ''), so only an explicit 0 is left to refuse
      if (!url || url.search || url.hash || url.username || url.password || !url.hostname || url.port === '0') return undefined;
      return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
    }
    const match = HOST_PORT.exec(text);
    const portNumber = Number(match?.[3]);
    return match && portNumber >= 1 && portNumber <= 65535 ? `http://${text}` : undefined;
  },
};

/** Parses and validates every variable; reports all bad ones at once, one line each. */
export function parseConfig(env: Env): ConfigResult {
  const errors: string[] = [];

  /** The variable's value, or undefined (with an error line) when it is missing or not valid. */
  function read<T>(name: string, parser: Parser<T>, fallback?: string): T | undefined {
    const raw = env[name] ?? fallback;
    if (raw === undefined) {
      errors.push(`${name} is not set: expected ${parser.accepts}`);
      return undefined;
    }
    const value = parser.parse(raw.trim());
    if (value === undefined) errors.push(`${name}=${JSON.stringify(raw)} is not valid: expected ${parser.accepts}`);
    return value;
  }

  // in the SPEC table's order, so the error lines read like the table
  const values = {
    upstream: read('HTTP_CLIENT', upstream),
    errorThreshold: read('ERROR_THRESHOLD', integerAtLeast(1), '3'),
    timeWindowMs: read('TIME_WINDOW', secondsToMs, '10'),
    acceptClientErrors: read('ACCEPT_CLIENT_ERRORS', boolean, 'false'),
    logLevel: read('LOG_LEVEL', logLevel, 'info'),
    probeIntervalMs: read('PROBE_INTERVAL', secondsToMs, '2'),
    probePath: read('PROBE_PATH', probePath, '/'),
    requestTimeoutMs: read('REQUEST_TIMEOUT', secondsToMs, '2'),
    successThreshold: read('SUCCESS_THRESHOLD', integerAtLeast(1), '3'),
    halfOpenMaxCalls: read('HALF_OPEN_MAX_CALLS', integerAtLeast(1), '1'),
    logFormat: read('LOG_FORMAT', logFormat, 'text'),
    adminPort: read('ADMIN_PORT', port, '8081'),
    proxyPort: read('PROXY_PORT', port, '8080'),
    listenAddress: read('LISTEN_ADDRESS', ipAddress, '127.0.0.1'),
  };
  if (errors.length === 0 && values.adminPort !== 0 && values.adminPort === values.proxyPort) {
    errors.push(`ADMIN_PORT and PROXY_PORT are both ${values.adminPort}: expected two different ports (or 0 to turn one off)`);
  }
  if (errors.length > 0) return { ok: false, errors };

  // no error line means every read returned a value
  const config = { ...values, probeUrl: `${values.upstream}${values.probePath}` } as Config;
  return { ok: true, config: Object.freeze(config) };
}

/** The effective configuration as the SPEC's variables, for the start line and /status. */
export function describeConfig(config: Config): Record<string, string | number | boolean> {
  return {
    HTTP_CLIENT: config.upstream,
    PROBE_PATH: config.probePath,
    ERROR_THRESHOLD: config.errorThreshold,
    TIME_WINDOW: config.timeWindowMs / 1000,
    ACCEPT_CLIENT_ERRORS: config.acceptClientErrors,
    LOG_LEVEL: config.logLevel,
    PROBE_INTERVAL: config.probeIntervalMs / 1000,
    REQUEST_TIMEOUT: config.requestTimeoutMs / 1000,
    SUCCESS_THRESHOLD: config.successThreshold,
    HALF_OPEN_MAX_CALLS: config.halfOpenMaxCalls,
    LOG_FORMAT: config.logFormat,
    ADMIN_PORT: config.adminPort,
    PROXY_PORT: config.proxyPort,
    LISTEN_ADDRESS: config.listenAddress,
  };
}
