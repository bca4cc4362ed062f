/** The longest Retry-After the breaker believes: an upstream cannot hold a circuit open for a day. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * The window an opening failure gets: its own (backoff) window, or the upstream's Retry-After when
 * that is longer, believed up to MAX_RETRY_AFTER_MS.
 */
export function windowWithRetryAfter(windowMs: number, retryAfterMs: number | undefined): number {
  if (retryAfterMs === undefined || !(retryAfterMs > windowMs)) return windowMs;
  return Math.max(windowMs, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}
