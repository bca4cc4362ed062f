/**
 * The fault switch: which misbehaviour `GET /` shows, so the breaker can be demonstrated without
 * stopping a container. Pure: parsing and describing modes, no I/O.
 */

export const FAULT_MODES = ['normal', 'error', 'client-error', 'hang', 'reset', 'slow', 'flaky'] as const;

export type FaultMode = (typeof FAULT_MODES)[number];

/**
 * The active fault. `status` is set for the modes that answer with an error; `retryAfter` (the
 * Retry-After header's text: seconds or an HTTP date) goes on those error answers when chosen.
 */
export type Fault =
  | { readonly mode: 'normal' | 'hang' | 'reset' }
  | { readonly mode: 'error' | 'client-error'; readonly status: number; readonly retryAfter?: string }
  /** answers normally, after `ms` */
  | { readonly mode: 'slow'; readonly ms: number }
  /** fails `percent` % of requests at random with `status`, answers the others normally */
  | { readonly mode: 'flaky'; readonly percent: number; readonly status: number; readonly retryAfter?: string };

export const NORMAL: Fault = Object.freeze({ mode: 'normal' });

/** Status ranges a caller may choose with `?status=`, and the status used when none is given. */
const STATUS_RULES = {
  error: { min: 500, max: 599, fallback: 500 },
  'client-error': { min: 400, max: 499, fallback: 404 },
  flaky: { min: 400, max: 599, fallback: 500 },
} as const;

const DEFAULT_SLOW_MS = 2_000;
/** longer than any sensible REQUEST_TIMEOUT; a client that gives up ends the request anyway */
const MAX_SLOW_MS = 600_000;
const DEFAULT_FLAKY_PERCENT = 50;

/** The query parameters a mode may take; null when absent. */
export interface FaultParams {
  readonly status?: string | null;
  readonly ms?: string | null;
  readonly percent?: string | null;
  readonly retryAfter?: string | null;
}

/** Which parameters each mode takes. */
const TAKES: Readonly<Record<FaultMode, readonly (keyof FaultParams)[]>> = {
  normal: [],
  hang: [],
  reset: [],
  error: ['status', 'retryAfter'],
  'client-error': ['status', 'retryAfter'],
  slow: ['ms'],
  flaky: ['percent', 'status', 'retryAfter'],
};

export type FaultParseResult =
  | { readonly ok: true; readonly fault: Fault }
  | { readonly ok: false; readonly error: string };

export function isFaultMode(value: string): value is FaultMode {
  return (FAULT_MODES as readonly string[]).includes(value);
}

/**
 * Reads a mode name and its query parameters into a fault. `error` takes `status` 500-599 (default
 * 500), `client-error` 400-499 (default 404), both and `flaky` take `retryAfter` (whole seconds or an
 * HTTP date); `slow` takes `ms` (default 2000), `flaky` takes `percent` 0-100 (default 50) and
 * `status` 400-599 (default 500). `status` may be given as a string for the older two-argument form.
 */
export function parseFault(mode: string, params: FaultParams | string | null = {}): FaultParseResult {
  const given: FaultParams = typeof params === 'string' || params === null ? { status: params } : params;
  if (!isFaultMode(mode)) {
    return { ok: false, error: `unknown fault mode "${mode}"` };
  }
  for (const name of ['status', 'ms', 'percent', 'retryAfter'] as const) {
    const value = given[name];
    if (value !== undefined && value !== null && !TAKES[mode].includes(name)) {
      return { ok: false, error: `fault mode "${mode}" takes no ${name}` };
    }
  }
  if (mode === 'slow') {
    const ms = given.ms ?? null;
    if (ms === null) return { ok: true, fault: Object.freeze({ mode, ms: DEFAULT_SLOW_MS }) };
    if (!/^\d+$/.test(ms) || Number(ms) > MAX_SLOW_MS) return { ok: false, error: `ms for "slow" must be 0-${MAX_SLOW_MS}, got "${ms}"` };
    return { ok: true, fault: Object.freeze({ mode, ms: Number(ms) }) };
  }
  if (mode === 'error' || mode === 'client-error' || mode === 'flaky') {
    const rule = STATUS_RULES[mode];
    const status = given.status ?? null;
    const code = status === null ? rule.fallback : /^\d{3}$/.test(status) ? Number(status) : NaN;
    if (!(code >= rule.min && code <= rule.max)) {
      return { ok: false, error: `status for "${mode}" must be ${rule.min}-${rule.max}, got "${status}"` };
    }
    const retryAfter = given.retryAfter ?? null;
    if (retryAfter !== null && !isRetryAfter(retryAfter)) {
      return { ok: false, error: `retryAfter must be whole seconds or an HTTP date (e.g. Tue, 01 Dec 2026 10:00:30 GMT), got "${retryAfter}"` };
    }
    const extra = retryAfter === null ? {} : { retryAfter };
    if (mode !== 'flaky') return { ok: true, fault: Object.freeze({ mode, status: code, ...extra }) };
    const percentText = given.percent ?? null;
    const percent = percentText === null ? DEFAULT_FLAKY_PERCENT : /^\d+(\.\d+)?$/.test(percentText) ? Number(percentText) : NaN;
    if (!(percent >= 0 && percent <= 100)) return { ok: false, error: `percent for "flaky" must be 0-100, got "${percentText}"` };
    return { ok: true, fault: Object.freeze({ mode, percent, status: code, ...extra }) };
  }
  return { ok: true, fault: Object.freeze({ mode }) };
}

function isRetryAfter(text: string): boolean {
  return /^\d+$/.test(text) || (/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(text) && !Number.isNaN(Date.parse(text)));
}

/** Short form for logs: `normal`, `error 503`, `client-error 429 retry-after 5`, `slow 1800 ms`, `flaky 60% 500`. */
export function describeFault(fault: Fault): string {
  switch (fault.mode) {
    case 'slow':
      return `slow ${fault.ms} ms`;
    case 'flaky':
      return `flaky ${fault.percent}% ${fault.status}${retryAfterWords(fault.retryAfter)}`;
    case 'error':
    case 'client-error':
      return `${fault.mode} ${fault.status}${retryAfterWords(fault.retryAfter)}`;
    default:
      return fault.mode;
  }
}

const retryAfterWords = (retryAfter: string | undefined): string => (retryAfter === undefined ? '' : ` retry-after ${retryAfter}`);
