/** How the open window grows on each reopening without a close. */
export interface BackoffSettings {
  /** the first window, and the one after every close */
  readonly baseMs: number;
  /** the longest window backoff makes */
  readonly maxMs: number;
  /** up to this share of a grown window is taken off at random (0-1), so many breakers do not retry in step */
  readonly jitter: number;
}

/**
 * The open window after `reopenings` trial failures in a row: base x 2^reopenings, capped at maxMs,
 * then shortened by up to `jitter` of itself, never below base. A window that did not grow (the
 * first, or any while maxMs = baseMs) gets no jitter and draws no random number.
 */
export function backoffWindow(reopenings: number, settings: BackoffSettings, random: () => number): number {
  const grown = Math.min(settings.maxMs, settings.baseMs * 2 ** reopenings);
  if (!(grown > settings.baseMs) || settings.jitter === 0) return grown;
  return Math.max(settings.baseMs, grown - grown * settings.jitter * random());
}
