/**
 * Configuration, parsed once at the edge into a typed, frozen object (SPEC "Configuration").
 * Nothing else in the monitor reads the environment.
 */
import { isIP } from 'node:net';
import { readRoutesFile, type SettingRule } from './routes-file';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'text' | 'json';
export type ProxyFallback = 'none' | 'stale';
/** `json`: the alert object as it is; `slack`: `{"text": ...}` for Slack-style incoming webhooks. */
export type AlertFormat = 'json' | 'slack';

/** Where transition alerts are POSTed (ALERT_WEBHOOK_*); absent when ALERT_WEBHOOK_URL is unset. */
export interface AlertWebhookConfig {
  readonly url: string;
  /** the Authorization header's whole value, e.g. `Bearer ...` */
  readonly authorization?: string;
  readonly format: AlertFormat;
}

/**
 * What each route has of its own (SPEC "Routes"): its upstream and the settings of its breaker, its
 * probe loop and its proxied calls. Without ROUTES_FILE the one route, `default`, takes them all
 * from the environment.
 */
export interface RouteConfig {
  /** [a-z0-9-]{1,32}; names the route in logs, metrics, events */
  readonly name: string;
  /** the proxy sends a path here when this is its longest matching prefix; starts with / */
  readonly prefix: string;
  /** upstream base URL without a trailing slash, e.g. `http://nginx:80` */
  readonly upstream: string;
  /** what the probe GETs: upstream + probePath */
  readonly probeUrl: string;
  readonly probePath: string;
  readonly errorThreshold: number;
  readonly successThreshold: number;
  readonly halfOpenMaxCalls: number;
  readonly timeWindowMs: number;
  readonly timeWindowMaxMs: number;
  readonly probeIntervalMs: number;
  readonly requestTimeoutMs: number;
  readonly acceptClientErrors: boolean;
  readonly slowCallThresholdMs: number | undefined;
  readonly failureRateThreshold: number | undefined;
  readonly slidingWindow: SlidingWindow;
  readonly minimumCalls: number;
  readonly honorRetryAfter: boolean;
  readonly maxConcurrentCalls: MaxConcurrentCalls;
}

/**
 * MAX_CONCURRENT_CALLS (SPEC "Concurrency limit"): calls allowed in flight to a route's upstream
 * at once: `off` (no limit), a number (a fixed limit), or `adaptive` (a limit that follows the need).
 */
export type MaxConcurrentCalls = 'off' | 'adaptive' | number;

/** The route every setup has when no ROUTES_FILE is given: every path, to HTTP_CLIENT. */
export const DEFAULT_ROUTE = 'default';

export interface Config {
  /**
   * One entry per route, in the file's order (never empty). Without ROUTES_FILE: one route,
   * `default`, prefix `/`, whose values are the top-level ones below.
   */
  readonly routes: readonly RouteConfig[];
  /** ROUTES_FILE as given; undefined = one route from the environment */
  readonly routesFile: string | undefined;
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
  /** SLOW_CALL_THRESHOLD in ms; undefined = off */
  readonly slowCallThresholdMs: number | undefined;
  /** FAILURE_RATE_THRESHOLD in percent; undefined = off */
  readonly failureRateThreshold: number | undefined;
  /** SLIDING_WINDOW: a count of calls, or a time in ms */
  readonly slidingWindow: SlidingWindow;
  readonly minimumCalls: number;
  /** TIME_WINDOW_MAX in ms (TIME_WINDOW when not set: no backoff) */
  readonly timeWindowMaxMs: number;
  readonly honorRetryAfter: boolean;
  /** PROXY_FALLBACK: `stale` serves cached good answers while the circuit rejects or the upstream fails */
  readonly proxyFallback: ProxyFallback;
  /** PROXY_CACHE_MAX_BYTES: the stale-answer cache's bound (headers and bodies) */
  readonly proxyCacheMaxBytes: number;
  /** undefined = no webhook */
  readonly alertWebhook?: AlertWebhookConfig;
  /** ADMIN_TOKEN: the bearer token of the control endpoints; undefined = control off */
  readonly adminToken: string | undefined;
  /** the IP address both servers listen on: loopback unless told otherwise (the image says 0.0.0.0) */
  readonly listenAddress: string;
  /** MAX_CONCURRENT_CALLS: the proxy's limit on calls in flight, per route (each route may set its own) */
  readonly maxConcurrentCalls: MaxConcurrentCalls;
  /** ADMIN_ALLOWED_HOSTS: Host names the admin port answers beside IP literals, localhost and the machine's name; lower case, no trailing dot */
  readonly adminAllowedHosts: readonly string[];
}

export type SlidingWindow = { readonly calls: number } | { readonly timeMs: number };

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
export interface Parser<T> {
  /** what is accepted, for the error line */
  readonly accepts: string;
  parse(text: string): T | undefined;
  /** how the error line shows a bad value; default: quoted as given. For values that may hold a secret. */
  readonly show?: (raw: string) => string;
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

/** Shortest ADMIN_TOKEN accepted: a token short enough to guess is no guard. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/** An empty value means unset (an `ADMIN_TOKEN=` line in `.env`); a token travels in a header, so printable ASCII only. */
const adminToken: Parser<string | null> = {
  accepts: `at least ${MIN_ADMIN_TOKEN_LENGTH} printable ASCII characters without spaces (or empty for control off)`,
  parse: (text) => (text === '' ? null : text.length >= MIN_ADMIN_TOKEN_LENGTH && /^[\x21-\x7e]+$/.test(text) ? text : undefined),
  show: (raw) => `(hidden, ${raw.length} characters)`,
};

/** An IP literal, not a name: a name may resolve to several addresses, or to none at start. */
const ipAddress: Parser<string> = {
  accepts: 'an IPv4 or IPv6 address, without brackets: 127.0.0.1 or ::1 (this machine only), 0.0.0.0 (every IPv4 interface), :: (every interface), or one interface\'s address',
  parse: (text) => (isIP(text) !== 0 ? text : undefined),
};

/** One DNS label; `_` is allowed because compose service names may contain it. */
const LABEL = '[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
/** A host name of labels separated by dots, 253 characters at most, with or without the root's dot. */
const HOST_NAME = new RegExp(`^(?=.{1,253}\\.?$)${LABEL}(\\.${LABEL})*\\.?$`);

/**
 * Names, not addresses or patterns: an IP literal is always answered, and a wildcard would let any
 * name under a domain in. Empty items are skipped, so compose can write `monitor,${ADMIN_ALLOWED_HOSTS:-}`.
 */
const hostNames: Parser<readonly string[]> = {
  accepts: 'host names separated by commas, e.g. monitor,monitor.example.com (letters, digits, -, _ and dots; no port, no wildcard, no scheme)',
  parse: (text) => {
    const names = text
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '');
    if (!names.every((name) => HOST_NAME.test(name))) return undefined;
    return Object.freeze(names.map((name) => name.toLowerCase().replace(/\.$/, '')));
  },
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

/** Parsers of the policy variables: `off` (or empty) is a value of its own, `null`. */
const orOff = <T>(parser: Parser<T>): Parser<T | null> => ({
  accepts: `${parser.accepts}, or off`,
  parse: (text) => (text === '' || text.toLowerCase() === 'off' ? null : parser.parse(text)),
});

const percent: Parser<number> = {
  accepts: 'a percent from 1 to 100 (decimals allowed)',
  parse: (text) => (/^\d+(\.\d+)?$/.test(text) && Number(text) >= 1 && Number(text) <= 100 ? Number(text) : undefined),
};

/** A ring of one byte per call: a bound keeps a typo from costing memory. */
const MAX_WINDOW_CALLS = 100_000;

const slidingWindow: Parser<SlidingWindow> = {
  accepts: `a number of calls 1-${MAX_WINDOW_CALLS} (e.g. 20), or seconds followed by s (e.g. 60s, 0.5s)`,
  parse: (text) => {
    if (/^\d+$/.test(text)) {
      const calls = Number(text);
      return calls >= 1 && calls <= MAX_WINDOW_CALLS ? { calls } : undefined;
    }
    const seconds = /^(.*)s$/i.exec(text)?.[1];
    const timeMs = seconds === undefined ? undefined : secondsToMs.parse(seconds);
    return timeMs === undefined ? undefined : { timeMs };
  },
};

/** SLIDING_WINDOW as it was written: `20` or `60s`. */
const describeWindow = (window: SlidingWindow): string | number => ('calls' in window ? window.calls : `${window.timeMs / 1000}s`);
/** `scheme://user:password@` becomes `scheme://***@`, so credentials never reach a log. */
const hideCredentials = (text: string): string => text.replace(/^(\s*[A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#]*@/, '$1***@');

/** An http(s) URL to POST to; credentials are refused (they would end up in logs): the Authorization header is separate. */
const webhookUrl: Parser<string> = {
  accepts: 'an http:// or https:// URL without credentials or fragment (an Authorization header goes in ALERT_WEBHOOK_AUTHORIZATION)',
  parse: (text) => {
    if (!/^https?:\/\//i.test(text) || !URL.canParse(text)) return undefined;
    const url = new URL(text);
    if (url.username || url.password || url.hash || !url.hostname || url.port === '0') return undefined;
    return url.href;
  },
  show: (raw) => JSON.stringify(hideCredentials(raw)),
};

const authorization: Parser<string> = {
  accepts: 'an Authorization header value, e.g. "Bearer <token>" (visible ASCII and spaces only)',
  parse: (text) => (/^[\x21-\x7e][\x20-\x7e]*$/.test(text) ? text : undefined),
  // never echoed: it is a secret even when malformed
  show: (raw) => `(hidden, ${raw.length} characters)`,
};

const proxyFallback = oneOf<ProxyFallback>('none or stale', { none: 'none', stale: 'stale' });

const alertFormat = oneOf<AlertFormat>('json or slack', { json: 'json', slack: 'slack' });

/** Like the policy variables, empty is `off`. */
const maxConcurrentCalls: Parser<MaxConcurrentCalls> = {
  accepts: 'off, an integer >= 1 (a fixed limit), or adaptive',
  parse: (text) => {
    const word = text.toLowerCase();
    if (word === '' || word === 'off') return 'off';
    if (word === 'adaptive') return 'adaptive';
    return integerAtLeast(1).parse(text);
  },
};

/** A port compose publishes on the host: a real one (compose cannot publish port 0). */
const hostPort: Parser<number> = {
  accepts: 'a port 1-65535',
  parse: (text) => (/^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= 65535 ? Number(text) : undefined),
};

/** A routes file's path: checked when it is read (monitor/src/routes-file.ts), so any text here. */
const routesFilePath: Parser<string> = {
  accepts: 'a readable JSON or YAML file of at most 1 MiB and 64 routes (a relative path is from the working directory)',
  parse: (text) => text,
};

/**
 * What the configuration page (docs/configuration.md, written by `npm run docs` from this table)
 * says of a variable, beside its parser, whose `accepts` are the page's words for what is accepted
 * as they are the error line's.
 */
export interface VariableSpec<T> {
  readonly parser: Parser<T>;
  /** the value when it is unset, as text, parsed like a given one; none: required, or off when unset */
  readonly fallback?: string;
  /** the page's default when `fallback` alone does not say it (required, unset, another variable's) */
  readonly default?: string;
  /** Markdown; links are relative to docs/ */
  readonly meaning: string;
  /** what is accepted beyond the parser's words: a rule with another variable */
  readonly note?: string;
  /** `compose`: read by compose, not by the monitor */
  readonly scope?: 'compose';
}

export type Variable<T> = VariableSpec<T> & { readonly name: string };

function named<D extends Record<string, VariableSpec<unknown>>>(specs: D): { readonly [K in keyof D]: D[K] & { readonly name: K } } {
  return Object.freeze(Object.fromEntries(Object.entries(specs).map(([name, spec]) => [name, Object.freeze({ ...spec, name })]))) as never;
}

/** Every variable, in the SPEC table's order: the one place its parser, default and meaning are written. */
export const VARIABLES = named({
  HTTP_CLIENT: { parser: upstream, default: 'required (`.env`: `nginx:80`)', meaning: 'the upstream the monitor probes and proxies to' },
  ROUTES_FILE: {
    parser: routesFilePath,
    default: 'unset (one route, `default`, prefix `/`, to `HTTP_CLIENT`)',
    meaning: 'a JSON or YAML file of routes, read once at start: per path prefix its own upstream, breaker, probe loop and settings ([Routes file](routes.md))',
    note: 'empty = unset',
  },
  ERROR_THRESHOLD: { parser: integerAtLeast(1), fallback: '3', meaning: 'consecutive failures that trip `closed -> open`' },
  TIME_WINDOW: { parser: secondsToMs, fallback: '10', meaning: 'seconds the circuit stays open before a trial' },
  ACCEPT_CLIENT_ERRORS: { parser: boolean, fallback: 'false', meaning: '`true`: 4xx answers count as success' },
  LOG_LEVEL: { parser: logLevel, fallback: 'info', meaning: 'the least severe lines written' },
  PROBE_INTERVAL: { parser: secondsToMs, fallback: '2', meaning: 'seconds between probes while closed or half_open' },
  PROBE_PATH: { parser: probePath, fallback: '/', meaning: 'the path probed' },
  REQUEST_TIMEOUT: { parser: secondsToMs, fallback: '2', meaning: 'seconds before a call is aborted and counted as a failure' },
  SUCCESS_THRESHOLD: { parser: integerAtLeast(1), fallback: '3', meaning: 'consecutive trial successes that close a half_open circuit' },
  HALF_OPEN_MAX_CALLS: { parser: integerAtLeast(1), fallback: '1', meaning: 'trial calls allowed in flight at once while half_open' },
  LOG_FORMAT: { parser: logFormat, fallback: 'text', meaning: '`text` (one readable line) or `json` (one object per line)' },
  ADMIN_PORT: { parser: port, fallback: '8081', meaning: '`/healthz`, `/status`, `/metrics`, the dashboard (`/`, `/events`), the control endpoints', note: 'not `PROXY_PORT`' },
  PROXY_PORT: { parser: port, fallback: '8080', meaning: 'the guarded reverse proxy' },
  ADMIN_TOKEN: {
    parser: adminToken,
    fallback: '',
    default: 'unset (control off)',
    meaning: 'bearer token for `POST /breaker/isolate` and `/breaker/reset`; never printed (`/status` and the start line say `set` or `unset`; a bad one is reported by its length only)',
  },
  ALERT_WEBHOOK_URL: { parser: webhookUrl, default: 'unset (off)', meaning: 'POSTed one JSON alert per transition ([Alerts](alerts.md#the-transition-webhook))', note: 'empty = off' },
  ALERT_WEBHOOK_AUTHORIZATION: {
    parser: authorization,
    default: 'unset',
    meaning: 'the `Authorization` header sent with each alert, e.g. `Bearer <token>`; never printed',
    note: 'needs `ALERT_WEBHOOK_URL`',
  },
  ALERT_WEBHOOK_FORMAT: {
    parser: alertFormat,
    fallback: 'json',
    meaning: '`json`: the alert object; `slack`: `{"text": ...}` for Slack-style incoming webhooks',
    note: 'needs `ALERT_WEBHOOK_URL`',
  },
  MAX_CONCURRENT_CALLS: {
    parser: maxConcurrentCalls,
    fallback: 'off',
    meaning: "calls allowed in flight at once to a route's upstream; one more is answered 503 `overloaded` at once, never queued ([Concurrency limit](concurrency.md))",
  },
  ADMIN_ALLOWED_HOSTS: {
    parser: hostNames,
    fallback: '',
    default: 'unset (compose: `monitor`; the Kubernetes ConfigMap: `monitor`)',
    meaning: "more `Host` names the admin port answers, beside IP addresses, `localhost` and the machine's host name ([who may ask](admin-api.md#who-may-ask)); the start line shows them",
    note: 'empty items are skipped',
  },
  LISTEN_ADDRESS: {
    parser: ipAddress,
    fallback: '127.0.0.1',
    default: '`127.0.0.1` (the image: `0.0.0.0`)',
    meaning: 'the address both servers listen on: loopback unless told otherwise, so a monitor run outside a container is not on the network',
  },
  NGINX_PORT: { parser: hostPort, fallback: '8000', meaning: 'compose only: the host port nginx is published on', scope: 'compose' },
  PROMETHEUS_PORT: { parser: hostPort, fallback: '9090', meaning: 'compose only, `--profile observability`: the host port Prometheus is published on', scope: 'compose' },
  SLOW_CALL_THRESHOLD: { parser: orOff(secondsToMs), fallback: 'off', meaning: 'seconds: an answer slower than this counts as a failure, reason `slow: 1806 ms`', note: 'below `REQUEST_TIMEOUT`' },
  FAILURE_RATE_THRESHOLD: {
    parser: orOff(percent),
    fallback: 'off',
    meaning: 'percent of failures over the sliding window that trips `closed -> open`, beside `ERROR_THRESHOLD` (whichever comes first)',
  },
  SLIDING_WINDOW: { parser: slidingWindow, fallback: '20', meaning: "the rate's window: a count of calls (`20`) or a time (`60s`, kept as 10 buckets)" },
  MINIMUM_CALLS: {
    parser: integerAtLeast(1),
    fallback: '10',
    meaning: 'calls the window must hold before the rate can trip',
    note: 'at most `SLIDING_WINDOW` when that is a count and the rate is on',
  },
  TIME_WINDOW_MAX: {
    parser: secondsToMs,
    default: '= `TIME_WINDOW`',
    meaning: 'longest open window: each reopening without a close doubles the window (minus up to 10% jitter), up to this',
    note: 'at least `TIME_WINDOW`',
  },
  HONOR_RETRY_AFTER: {
    parser: boolean,
    fallback: 'true',
    meaning: "a failing 429/503 answer's `Retry-After` (seconds or HTTP date) makes the window it opens at least that long, believed up to one hour",
  },
  PROXY_FALLBACK: {
    parser: proxyFallback,
    fallback: 'none',
    meaning:
      '`stale`: the guarded proxy keeps the last good answer to cacheable GETs and serves it, marked stale, while the circuit rejects or the upstream fails (502/504) ([Fallback](proxy.md#fallback-stale-answers))',
  },
  PROXY_CACHE_MAX_BYTES: {
    parser: integerAtLeast(0),
    fallback: '16777216',
    meaning: "the stale-answer cache's bound: bytes of headers and bodies, least recently used evicted first; one entry at most a quarter of it, and 1 MiB",
  },
});

/** The same, as a list (the configuration page, the tests). */
export const VARIABLE_LIST: readonly Variable<unknown>[] = Object.values(VARIABLES);

/** Parses and validates every variable; reports all bad ones at once, one line each. */
export function parseConfig(env: Env): ConfigResult {
  const errors: string[] = [];

  /** The variable's value, or undefined (with an error line) when it is missing or not valid. */
  function read<T>({ name, parser, fallback }: Variable<T>): T | undefined {
    const raw = env[name] ?? fallback;
    if (raw === undefined) {
      errors.push(`${name} is not set: expected ${parser.accepts}`);
      return undefined;
    }
    const value = parser.parse(raw.trim());
    if (value === undefined) errors.push(`${name}=${parser.show ? parser.show(raw) : JSON.stringify(raw)} is not valid: expected ${parser.accepts}`);
    return value;
  }

  /** Unset or empty: a variable with no default is off (`.env` may list it empty). */
  const isUnset = (name: string): boolean => (env[name] ?? '').trim() === '';

  function readAlertWebhook(): AlertWebhookConfig | undefined {
    if (isUnset('ALERT_WEBHOOK_URL')) {
      // a token or a format for no webhook is a mistake worth a line, not a silent no-op
      for (const name of ['ALERT_WEBHOOK_AUTHORIZATION', 'ALERT_WEBHOOK_FORMAT']) {
        if (!isUnset(name)) errors.push(`${name} is set but ALERT_WEBHOOK_URL is not: expected ALERT_WEBHOOK_URL too, or ${name} unset`);
      }
      return undefined;
    }
    const url = read(VARIABLES.ALERT_WEBHOOK_URL);
    const auth = isUnset('ALERT_WEBHOOK_AUTHORIZATION') ? undefined : read(VARIABLES.ALERT_WEBHOOK_AUTHORIZATION);
    const format = read(VARIABLES.ALERT_WEBHOOK_FORMAT);
    if (url === undefined || format === undefined) return undefined;
    return Object.freeze({ url, format, ...(auth === undefined ? {} : { authorization: auth }) });
  }

  // in the SPEC table's order, so the error lines read like the table
  const values = {
    upstream: read(VARIABLES.HTTP_CLIENT),
    errorThreshold: read(VARIABLES.ERROR_THRESHOLD),
    timeWindowMs: read(VARIABLES.TIME_WINDOW),
    acceptClientErrors: read(VARIABLES.ACCEPT_CLIENT_ERRORS),
    logLevel: read(VARIABLES.LOG_LEVEL),
    probeIntervalMs: read(VARIABLES.PROBE_INTERVAL),
    probePath: read(VARIABLES.PROBE_PATH),
    requestTimeoutMs: read(VARIABLES.REQUEST_TIMEOUT),
    successThreshold: read(VARIABLES.SUCCESS_THRESHOLD),
    halfOpenMaxCalls: read(VARIABLES.HALF_OPEN_MAX_CALLS),
    logFormat: read(VARIABLES.LOG_FORMAT),
    adminPort: read(VARIABLES.ADMIN_PORT),
    proxyPort: read(VARIABLES.PROXY_PORT),
    slowCallThresholdMs: read(VARIABLES.SLOW_CALL_THRESHOLD),
    failureRateThreshold: read(VARIABLES.FAILURE_RATE_THRESHOLD),
    slidingWindow: read(VARIABLES.SLIDING_WINDOW),
    minimumCalls: read(VARIABLES.MINIMUM_CALLS),
    // unset: TIME_WINDOW, so there is no backoff
    timeWindowMaxMs: env.TIME_WINDOW_MAX === undefined ? null : read(VARIABLES.TIME_WINDOW_MAX),
    honorRetryAfter: read(VARIABLES.HONOR_RETRY_AFTER),
    proxyFallback: read(VARIABLES.PROXY_FALLBACK),
    proxyCacheMaxBytes: read(VARIABLES.PROXY_CACHE_MAX_BYTES),
    adminToken: read(VARIABLES.ADMIN_TOKEN) ?? undefined,
    listenAddress: read(VARIABLES.LISTEN_ADDRESS),
    maxConcurrentCalls: read(VARIABLES.MAX_CONCURRENT_CALLS),
    adminAllowedHosts: read(VARIABLES.ADMIN_ALLOWED_HOSTS),
  };
  const alertWebhook = readAlertWebhook();
  if (errors.length === 0 && values.adminPort !== 0 && values.adminPort === values.proxyPort) {
    errors.push(`ADMIN_PORT and PROXY_PORT are both ${values.adminPort}: expected two different ports (or 0 to turn one off)`);
  }
  errors.push(...policyConflicts(values, environmentNames(env)).map((conflict) => conflict.message));

  // no error line means every read returned a value
  const top =
    errors.length > 0
      ? undefined
      : ({
          ...values,
          probeUrl: `${values.upstream}${values.probePath}`,
          slowCallThresholdMs: values.slowCallThresholdMs ?? undefined,
          failureRateThreshold: values.failureRateThreshold ?? undefined,
          timeWindowMaxMs: values.timeWindowMaxMs ?? values.timeWindowMs,
          ...(alertWebhook ? { alertWebhook } : {}),
        } as Omit<Config, 'routes' | 'routesFile'>);
  const environmentRoute = top && Object.freeze(routeFrom(top, DEFAULT_ROUTE, '/'));
  // read once, here at the edge; checked even when a variable is bad, so every problem is told at once
  const routesFile = isUnset('ROUTES_FILE') ? undefined : (env.ROUTES_FILE ?? '').trim();
  const file =
    routesFile === undefined
      ? undefined
      : readRoutesFile(routesFile, environmentRoute && { route: environmentRoute, timeWindowMaxSet: env.TIME_WINDOW_MAX !== undefined }, routeRules);
  if (file && !file.ok) errors.push(...file.errors);
  if (errors.length > 0 || top === undefined || environmentRoute === undefined) return { ok: false, errors };
  const routes = file?.ok ? file.routes : Object.freeze([environmentRoute]);
  return { ok: true, config: Object.freeze({ ...top, routes, routesFile }) };
}

/**
 * What a route of ROUTES_FILE may set: the camelCase of each breaker variable, checked by that
 * variable's own parser, so a route's value is accepted exactly when the variable's would be.
 */
const routeSetting = <T>({ name: variable, parser }: Variable<T>, set: (value: T) => Partial<RouteConfig>): SettingRule => ({
  variable,
  accepts: parser.accepts,
  parse: (text) => {
    const value = parser.parse(text);
    return value === undefined ? undefined : set(value);
  },
});

// in the SPEC table's order, like the variables
const routeRules = {
  upstream,
  settings: {
    errorThreshold: routeSetting(VARIABLES.ERROR_THRESHOLD, (errorThreshold) => ({ errorThreshold })),
    timeWindow: routeSetting(VARIABLES.TIME_WINDOW, (timeWindowMs) => ({ timeWindowMs })),
    acceptClientErrors: routeSetting(VARIABLES.ACCEPT_CLIENT_ERRORS, (acceptClientErrors) => ({ acceptClientErrors })),
    probeInterval: routeSetting(VARIABLES.PROBE_INTERVAL, (probeIntervalMs) => ({ probeIntervalMs })),
    probePath: routeSetting(VARIABLES.PROBE_PATH, (path) => ({ probePath: path })),
    requestTimeout: routeSetting(VARIABLES.REQUEST_TIMEOUT, (requestTimeoutMs) => ({ requestTimeoutMs })),
    successThreshold: routeSetting(VARIABLES.SUCCESS_THRESHOLD, (successThreshold) => ({ successThreshold })),
    halfOpenMaxCalls: routeSetting(VARIABLES.HALF_OPEN_MAX_CALLS, (halfOpenMaxCalls) => ({ halfOpenMaxCalls })),
    slowCallThreshold: routeSetting(VARIABLES.SLOW_CALL_THRESHOLD, (ms) => ({ slowCallThresholdMs: ms ?? undefined })),
    failureRateThreshold: routeSetting(VARIABLES.FAILURE_RATE_THRESHOLD, (rate) => ({ failureRateThreshold: rate ?? undefined })),
    slidingWindow: routeSetting(VARIABLES.SLIDING_WINDOW, (window) => ({ slidingWindow: window })),
    minimumCalls: routeSetting(VARIABLES.MINIMUM_CALLS, (minimumCalls) => ({ minimumCalls })),
    timeWindowMax: routeSetting(VARIABLES.TIME_WINDOW_MAX, (timeWindowMaxMs) => ({ timeWindowMaxMs })),
    honorRetryAfter: routeSetting(VARIABLES.HONOR_RETRY_AFTER, (honorRetryAfter) => ({ honorRetryAfter })),
    maxConcurrentCalls: routeSetting(VARIABLES.MAX_CONCURRENT_CALLS, (limit) => ({ maxConcurrentCalls: limit })),
  } satisfies Record<PolicySetting, SettingRule> & Record<string, SettingRule>,
  conflicts: policyConflicts,
};

/** A route with the environment's settings: the default route, and what a routes file's entries start from. */
function routeFrom(settings: Omit<RouteConfig, 'name' | 'prefix'>, name: string, prefix: string): RouteConfig {
  return {
    name,
    prefix,
    upstream: settings.upstream,
    probeUrl: settings.probeUrl,
    probePath: settings.probePath,
    errorThreshold: settings.errorThreshold,
    successThreshold: settings.successThreshold,
    halfOpenMaxCalls: settings.halfOpenMaxCalls,
    timeWindowMs: settings.timeWindowMs,
    timeWindowMaxMs: settings.timeWindowMaxMs,
    probeIntervalMs: settings.probeIntervalMs,
    requestTimeoutMs: settings.requestTimeoutMs,
    acceptClientErrors: settings.acceptClientErrors,
    slowCallThresholdMs: settings.slowCallThresholdMs,
    failureRateThreshold: settings.failureRateThreshold,
    slidingWindow: settings.slidingWindow,
    minimumCalls: settings.minimumCalls,
    honorRetryAfter: settings.honorRetryAfter,
    maxConcurrentCalls: settings.maxConcurrentCalls,
  };
}

/** The settings the checks below compare, by their name in a routes file. */
export type PolicySetting = 'timeWindow' | 'timeWindowMax' | 'requestTimeout' | 'slowCallThreshold' | 'slidingWindow' | 'minimumCalls';

/** How a conflict line shows a setting: in the environment `TIME_WINDOW_MAX="5"`, in a routes file `timeWindowMax "5"`. */
export interface SettingNames {
  /** the setting the line is about, with its value as written when there is one */
  blamed(setting: PolicySetting, value: number): string;
  /** the setting it is compared with, with its value in force (seconds, or calls) */
  other(setting: PolicySetting, value: number): string;
  /** the setting's name alone, for what is expected */
  name(setting: PolicySetting): string;
}

export interface PolicyConflict {
  readonly setting: PolicySetting;
  readonly other: PolicySetting;
  readonly message: string;
}

const POLICY_VARIABLES: Readonly<Record<PolicySetting, string>> = {
  timeWindow: 'TIME_WINDOW',
  timeWindowMax: 'TIME_WINDOW_MAX',
  requestTimeout: 'REQUEST_TIMEOUT',
  slowCallThreshold: 'SLOW_CALL_THRESHOLD',
  slidingWindow: 'SLIDING_WINDOW',
  minimumCalls: 'MINIMUM_CALLS',
};

function environmentNames(env: Env): SettingNames {
  const variable = (setting: PolicySetting): string => POLICY_VARIABLES[setting];
  return {
    // as written, like any bad value; a default has no text, so its value
    blamed: (setting, value) => `${variable(setting)}=${env[variable(setting)] === undefined ? value : JSON.stringify(env[variable(setting)])}`,
    other: (setting, value) => `${variable(setting)}=${value}`,
    name: variable,
  };
}

/**
 * Settings that are valid alone but not together (checked only when both are valid), for the
 * environment and for each route of a routes file alike.
 */
function policyConflicts(
  values: {
    timeWindowMs?: number;
    requestTimeoutMs?: number;
    slowCallThresholdMs?: number | null;
    failureRateThreshold?: number | null;
    slidingWindow?: SlidingWindow;
    minimumCalls?: number;
    timeWindowMaxMs?: number | null;
  },
  names: SettingNames,
): PolicyConflict[] {
  const conflicts: PolicyConflict[] = [];
  const { timeWindowMs, timeWindowMaxMs, requestTimeoutMs, slowCallThresholdMs, slidingWindow: window, minimumCalls } = values;
  if (timeWindowMs !== undefined && typeof timeWindowMaxMs === 'number' && timeWindowMaxMs < timeWindowMs) {
    conflicts.push({
      setting: 'timeWindowMax',
      other: 'timeWindow',
      message: `${names.blamed('timeWindowMax', timeWindowMaxMs / 1000)} is less than ${names.other('timeWindow', timeWindowMs / 1000)}: expected a number of seconds >= ${names.name('timeWindow')} (the longest open window cannot be shorter than the first)`,
    });
  }
  if (requestTimeoutMs !== undefined && typeof slowCallThresholdMs === 'number' && slowCallThresholdMs >= requestTimeoutMs) {
    conflicts.push({
      setting: 'slowCallThreshold',
      other: 'requestTimeout',
      message: `${names.blamed('slowCallThreshold', slowCallThresholdMs / 1000)} is not below ${names.other('requestTimeout', requestTimeoutMs / 1000)}: expected fewer seconds than ${names.name('requestTimeout')} (a call that slow times out first)`,
    });
  }
  if (typeof values.failureRateThreshold === 'number' && window !== undefined && 'calls' in window && minimumCalls !== undefined && minimumCalls > window.calls) {
    conflicts.push({
      setting: 'minimumCalls',
      other: 'slidingWindow',
      message: `${names.blamed('minimumCalls', minimumCalls)} is more than ${names.other('slidingWindow', window.calls)} calls: expected at most ${names.name('slidingWindow')} (the window could never hold enough calls for the rate to trip)`,
    });
  }
  return conflicts;
}

/** Scheme, host and port only: webhook URLs often carry their token in the path or query. */
export function describeWebhookUrl(url: string): string {
  const parsed = new URL(url);
  return parsed.pathname === '/' && parsed.search === '' ? parsed.origin : `${parsed.origin}/...`;
}

/** The effective configuration as the SPEC's variables, for the start line and /status. */
export function describeConfig(config: Config): Record<string, string | number | boolean> {
  return {
    HTTP_CLIENT: config.upstream,
    ROUTES_FILE: config.routesFile ?? 'unset',
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
    SLOW_CALL_THRESHOLD: config.slowCallThresholdMs === undefined ? 'off' : config.slowCallThresholdMs / 1000,
    FAILURE_RATE_THRESHOLD: config.failureRateThreshold ?? 'off',
    SLIDING_WINDOW: describeWindow(config.slidingWindow),
    MINIMUM_CALLS: config.minimumCalls,
    TIME_WINDOW_MAX: config.timeWindowMaxMs / 1000,
    HONOR_RETRY_AFTER: config.honorRetryAfter,
    PROXY_FALLBACK: config.proxyFallback,
    PROXY_CACHE_MAX_BYTES: config.proxyCacheMaxBytes,
    MAX_CONCURRENT_CALLS: config.maxConcurrentCalls,
    ...(config.alertWebhook
      ? {
          ALERT_WEBHOOK_URL: describeWebhookUrl(config.alertWebhook.url),
          ...(config.alertWebhook.authorization === undefined ? {} : { ALERT_WEBHOOK_AUTHORIZATION: '(set)' }),
          ALERT_WEBHOOK_FORMAT: config.alertWebhook.format,
        }
      : {}),
    // whether it is set, never the token itself
    ADMIN_TOKEN: config.adminToken === undefined ? 'unset' : 'set',
    ADMIN_ALLOWED_HOSTS: config.adminAllowedHosts.length === 0 ? 'unset' : config.adminAllowedHosts.join(','),
    LISTEN_ADDRESS: config.listenAddress,
  };
}
