/**
 * The upstream's `Retry-After` (RFC 9110 10.2.3): whole seconds, or an HTTP date. Only a 429 or a
 * 503 failure carries one that counts (SPEC "Trip and recovery policies").
 */

/** The statuses whose Retry-After asks a client to wait. */
export function asksToWait(status: number | undefined): boolean {
  return status === 429 || status === 503;
}

/**
 * Ms the header asks to wait, from `nowMs` (wall clock, for a date); undefined when it is absent
 * or not valid. A date in the past asks for nothing (0).
 */
export function parseRetryAfter(header: string | readonly string[] | undefined, nowMs: number): number | undefined {
  const text = (Array.isArray(header) ? header[0] : (header as string | undefined))?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // IMF-fixdate and the two obsolete forms all start with a day name and hold a year and "GMT"
  if (!/^[A-Za-z]{3,9},? .*\d{2}:\d{2}:\d{2}/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
