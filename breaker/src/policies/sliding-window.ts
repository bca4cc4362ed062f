/** What a sliding window holds: the calls in it and how many of them failed. */
export interface WindowCounts {
  readonly calls: number;
  readonly failures: number;
}

/**
 * The calls the failure rate is measured over: the last N calls, or the calls of the last stretch
 * of time. Times are the breaker's clock, in ms.
 */
export interface SlidingWindow {
  /** whether it needs the time (a count window does not: the clock is not read for it) */
  readonly timed: boolean;
  /** counts a call; `calls` and `failures` are then up to date for `now` */
  add(failed: boolean, now: number): void;
  /** calls and failures in the window as of the last add (read without allocating, on the hot path) */
  readonly calls: number;
  readonly failures: number;
  /** the window as of `now` */
  counts(now: number): WindowCounts;
  clear(): void;
}

/** The rate's window as a breaker option: a number of calls, or a time in ms split into buckets. */
export type SlidingWindowOptions = { readonly calls: number } | { readonly timeMs: number; readonly buckets?: number };
