import { CountWindow } from './count-window';
import type { SlidingWindow, SlidingWindowOptions, WindowCounts } from './sliding-window';
import { DEFAULT_BUCKETS, TimeWindow } from './time-window';

/** What the rate rule saw when it tripped. */
export interface RateTrip extends WindowCounts {
  /** failures / calls, in percent */
  readonly ratePercent: number;
}

/**
 * The failure-rate trip: at `thresholdPercent` or more failures over the sliding window, once it
 * holds `minimumCalls` calls. It only counts and answers; the breaker decides what to do.
 */
export class FailureRate {
  constructor(
    private readonly window: SlidingWindow,
    private readonly thresholdPercent: number,
    private readonly minimumCalls: number,
  ) {}

  /** Counts a call; returns what it saw when the rate now trips, undefined otherwise. */
  add(failed: boolean, now: number): RateTrip | undefined {
    const window = this.window;
    window.add(failed, now);
    const { calls, failures } = window;
    // integers on both sides: no rounding decides a trip at exactly the threshold
    if (calls < this.minimumCalls || failures * 100 < this.thresholdPercent * calls) return undefined;
    return { calls, failures, ratePercent: (failures * 100) / calls };
  }

  counts(now: number): WindowCounts {
    return this.window.counts(now);
  }

  clear(): void {
    this.window.clear();
  }

  /** whether add() needs the time */
  get timed(): boolean {
    return this.window.timed;
  }
}

/** Builds the window an option describes. */
export function slidingWindow(options: SlidingWindowOptions): SlidingWindow {
  return 'calls' in options ? new CountWindow(options.calls) : new TimeWindow(options.timeMs, options.buckets ?? DEFAULT_BUCKETS);
}
