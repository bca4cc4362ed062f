/**
 * The fault switch: which misbehaviour `GET /` shows, so the breaker can be demonstrated without
 * stopping a container. Pure: parsing and describing modes, no I/O.
 */

export const FAULT_MODES = ['normal', 'error', 'client-error', 'hang', 'reset'] as const;

export type FaultMode = (typeof FAULT_MODES)[number];

/** The active fault. `status` is set only for the modes that answer with one. */
export type Fault =
  | { readonly mode: 'normal' | 'hang' | 'reset' }
  | { readonly mode: 'error' | 'client-error'; readonly status: number };

export const NORMAL: Fault = Object.freeze({ mode: 'normal' });

/** Status ranges a caller may choose with `?status=`, and the status used when none is given. */
const STATUS_RULES = {
  error: { min: 500, max: 599, fallback: 500 },
  'client-error': { min: 400, max: 499, fallback: 404 },
} as const;

export type FaultParseResult =
  | { readonly ok: true; readonly fault: Fault }
  | { readonly ok: false; readonly error: string };

export function isFaultMode(value: string): value is FaultMode {
  return (FAULT_MODES as readonly string[]).includes(value);
}

/**
 * Reads a mode name and the optional `status` query parameter (`null` when absent) into a fault.
 * `error` accepts 500-599 (default 500), `client-error` 400-499 (default 404); other modes take none.
 */
export function parseFault(mode: string, status: string | null): FaultParseResult {
  if (!isFaultMode(mode)) {
    return { ok: false, error: `unknown fault mode "${mode}"` };
  }
  if (mode === 'error' || mode === 'client-error') {
    const rule = STATUS_RULES[mode];
    if (status === null) return { ok: true, fault: Object.freeze({ mode, status: rule.fallback }) };
    const code = /^\d{3}$/.test(status) ? Number(status) : NaN;
    if (!(code >= rule.min && code <= rule.max)) {
      return { ok: false, error: `status for "${mode}" must be ${rule.min}-${rule.max}, got "${status}"` };
    }
    return { ok: true, fault: Object.freeze({ mode, status: code }) };
  }
  if (status !== null) {
    return { ok: false, error: `fault mode "${mode}" takes no status` };
  }
  return { ok: true, fault: Object.freeze({ mode }) };
}

/** Short form for logs: `normal`, `error 503`, `client-error 429`. */
export function describeFault(fault: Fault): string {
  return 'status' in fault ? `${fault.mode} ${fault.status}` : fault.mode;
}
