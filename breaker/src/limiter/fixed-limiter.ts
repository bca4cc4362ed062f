import { monotonicClock, type Clock } from '../clock';
import { unmatchedRelease, wholeLimit, type CallEnd, type ConcurrencyLimiter } from './limiter';

/** The options of a FixedLimiter. */
export interface FixedLimiterOptions {
  /** calls allowed in flight at once (an integer >= 1) */
  readonly limit: number;
  /** a monotonic clock in ms, for callers that time their calls with it; default `performance.now()` */
  readonly clock?: Clock;
}

/** A fixed concurrency limit (a bulkhead): at most `limit` calls in flight, whatever their latency or outcome. */
export class FixedLimiter implements ConcurrencyLimiter {
  readonly limit: number;
  readonly clock: Clock;
  private calls = 0;

  constructor(options: FixedLimiterOptions) {
    this.limit = wholeLimit('limit', options.limit);
    this.clock = options.clock ?? monotonicClock;
  }

  get inFlight(): number {
    return this.calls;
  }

  tryAcquire(): boolean {
    if (this.calls >= this.limit) return false;
    this.calls += 1;
    return true;
  }

  release(_latencyMs: number, _end: CallEnd, _endedAt?: number): void {
    if (this.calls === 0) throw unmatchedRelease();
    this.calls -= 1;
  }
}
