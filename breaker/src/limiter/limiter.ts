/**
 * A concurrency limiter: a cap on the calls in flight at once, so that a hung upstream ties up a
 * handful of calls instead of every call sent during one timeout. Pure and synchronous like the
 * breaker: no timers, no queue, no I/O; time comes in through an injected clock.
 */
import type { Clock } from '../clock';

/**
 * How a call that held a slot ended. `success`: it answered (a sample of the upstream's latency).
 * `failure`: it failed (a refused connection, a 5xx). `timeout`: it ran out of time. `dropped`: it
 * ended without saying anything about the upstream (the caller gave up, an error not counted):
 * the slot is freed and nothing is learned from it.
 */
export type CallEnd = 'success' | 'failure' | 'timeout' | 'dropped';

/** What `execute` asks of a limiter (FixedLimiter and AdaptiveLimiter implement it; a caller may bring its own). */
export interface ConcurrencyLimiter {
  /** Takes a slot when fewer than `limit` calls are in flight; false otherwise. Never queues, never waits. */
  tryAcquire(): boolean;
  /**
   * Gives back a slot `tryAcquire` granted, once per call, when the call has really ended:
   * `latencyMs` is how long it took (on `clock`), `end` how it ended. `endedAt`: the clock time it
   * ended, when the caller has just read it to measure the latency (saves the limiter a read).
   */
  release(latencyMs: number, end: CallEnd, endedAt?: number): void;
  /** calls admitted at once, now (an integer >= 1) */
  readonly limit: number;
  /** calls holding a slot; above `limit` only when the limit shrank under calls already admitted */
  readonly inFlight: number;
  /** the monotonic clock latencies are measured on (execute times its calls with it) */
  readonly clock: Clock;
}

/** Validates a whole number >= 1 (a limit). */
export function wholeLimit(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be an integer >= 1, got ${value}`);
  return value;
}

/** The error for a release with no call in flight: a caller's bug, which would otherwise hide a slot leak. */
export function unmatchedRelease(): Error {
  return new Error('release() without a call in flight: call it once per tryAcquire() that returned true');
}
