/**
 * One probe: an HTTP GET of the upstream, classified per SPEC "What counts as a failure".
 * It never throws: every ending is a ProbeResult.
 */
import http from 'node:http';
import https from 'node:https';
import axios, { AxiosError } from 'axios';
import { asksToWait, parseRetryAfter } from '../retry-after';

export type ProbeResult =
  | { readonly kind: 'success'; readonly status: number; readonly latencyMs: number }
  /** retryAfterMs: what a 429 or 503 answer's Retry-After asked for */
  | { readonly kind: 'failure'; readonly reason: string; readonly status?: number; readonly latencyMs: number; readonly retryAfterMs?: number }
  /** stopped by the caller (shutdown): neither a success nor a failure */
  | { readonly kind: 'aborted'; readonly latencyMs: number };

export interface ProbeOptions {
  readonly url: string;
  readonly timeoutMs: number;
  readonly acceptClientErrors: boolean;
}

export type Probe = (signal: AbortSignal) => Promise<ProbeResult>;

/** Decides what an HTTP status means for the breaker. Redirects are answers, not followed. */
export function classifyStatus(status: number, acceptClientErrors: boolean): { ok: true } | { ok: false; reason: string } {
  if (status >= 200 && status < 400) return { ok: true };
  if (status >= 400 && status < 500 && acceptClientErrors) return { ok: true };
  return { ok: false, reason: `HTTP ${status}` };
}

/** A short reason for a network error: its code (ECONNREFUSED, ENOTFOUND...) or its message. */
export function networkReason(error: unknown): string {
  const cause = error instanceof AxiosError && error.cause instanceof Error ? error.cause : error;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && code !== 'ERR_BAD_RESPONSE' && code !== 'ERR_BAD_REQUEST') return code;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Makes the probe. Fresh connections (no keep-alive), so every probe says whether the upstream
 * accepts connections now, not whether an old socket still lives.
 */
export function createProbe(options: ProbeOptions): Probe {
  const client = axios.create({
    maxRedirects: 0,
    validateStatus: () => true,
    responseType: 'text',
    transitional: { clarifyTimeoutError: true },
    httpAgent: new http.Agent({ keepAlive: false }),
    httpsAgent: new https.Agent({ keepAlive: false }),
    headers: { 'User-Agent': 'circuit-breaker-monitor', Accept: 'application/json, */*' },
    proxy: false,
  });

  return async (signal) => {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    // axios' own `timeout` is an idle-socket timeout; this one bounds the whole answer.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), options.timeoutMs);
    const onAbort = () => deadline.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const response = await client.get(options.url, { signal: deadline.signal });
      const verdict = classifyStatus(response.status, options.acceptClientErrors);
      if (verdict.ok) return { kind: 'success', status: response.status, latencyMs: elapsed() };
      const retryAfterMs = asksToWait(response.status) ? parseRetryAfter(response.headers['retry-after'] as string | undefined, Date.now()) : undefined;
      return {
        kind: 'failure',
        reason: verdict.reason,
        status: response.status,
        latencyMs: elapsed(),
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      };
    } catch (error) {
      if (signal.aborted) return { kind: 'aborted', latencyMs: elapsed() };
      if (deadline.signal.aborted) return { kind: 'failure', reason: `timeout after ${options.timeoutMs} ms`, latencyMs: elapsed() };
      return { kind: 'failure', reason: networkReason(error), latencyMs: elapsed() };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  };
}
