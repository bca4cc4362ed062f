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
  add(failed: boolean, now: number): void;
  counts(now: number): WindowCounts;
  clear(): void;
}

/** The rate's window as a breaker option: a number of calls, or a time in ms split into buckets. */
export type SlidingWindowOptions = { readonly calls: number } | { readonly timeMs: number; readonly buckets?: number };
