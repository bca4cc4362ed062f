/** A monotonic clock in milliseconds. Injected so time-dependent logic is tested without sleeps. */
export interface Clock {
  /** the time now, in ms from an arbitrary origin; never goes back */
  now(): number;
}

/** `performance.now()`: monotonic, unaffected by wall-clock changes (NTP steps, DST). */
export const monotonicClock: Clock = { now: () => performance.now() };
