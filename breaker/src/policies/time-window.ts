import type { SlidingWindow, WindowCounts } from './sliding-window';

export const DEFAULT_BUCKETS = 10;

/**
 * The calls of the last `timeMs`, split into `buckets` buckets of `timeMs / buckets` each: a call
 * counts while its bucket is the current one or one of the `buckets - 1` before it. Each bucket
 * keeps two counts, never a timestamp per call; totals are kept as buckets fill and expire, so
 * adding and counting are O(1) (a jump in time clears at most `buckets` buckets).
 */
export class TimeWindow implements SlidingWindow {
  readonly timed = true;
  calls = 0;
  failures = 0;
  private readonly bucketMs: number;
  private readonly callCounts: Float64Array;
  private readonly failureCounts: Float64Array;
  /** index (time / bucketMs) of the current bucket; NaN while empty */
  private head = NaN;
  /** the current bucket's slot, slotOf(head), kept so that a call in the current bucket does no modulo */
  private slot = 0;

  constructor(
    readonly timeMs: number,
    readonly buckets: number = DEFAULT_BUCKETS,
  ) {
    this.bucketMs = timeMs / buckets;
    this.callCounts = new Float64Array(buckets);
    this.failureCounts = new Float64Array(buckets);
  }

  add(failed: boolean, now: number): void {
    const slot = this.advance(now);
    this.callCounts[slot]! += 1;
    this.calls += 1;
    if (failed) {
      this.failureCounts[slot]! += 1;
      this.failures += 1;
    }
  }

  counts(now: number): WindowCounts {
    if (this.calls > 0) this.advance(now);
    return { calls: this.calls, failures: this.failures };
  }

  clear(): void {
    this.callCounts.fill(0);
    this.failureCounts.fill(0);
    this.head = NaN;
    this.slot = 0;
    this.calls = 0;
    this.failures = 0;
  }

  /** Moves the current bucket to `now`'s, emptying the buckets that fell out; returns its slot. */
  private advance(now: number): number {
    const index = Math.floor(now / this.bucketMs);
    // the common case, still the current bucket: no modulo per call (the core with a fixed clock: 19 ns a call, 88 with the modulo).
    // A clock never runs back; if one did, its calls would count in the current bucket.
    if (index <= this.head) return this.slot;
    // a later bucket: empty the ones that fell out (none while the window is empty, head NaN)
    if (!Number.isNaN(this.head)) {
      const steps = Math.min(index - this.head, this.buckets);
      for (let step = 1; step <= steps; step += 1) {
        const slot = this.slotOf(this.head + step);
        this.calls -= this.callCounts[slot]!;
        this.failures -= this.failureCounts[slot]!;
        this.callCounts[slot] = 0;
        this.failureCounts[slot] = 0;
      }
    }
    this.head = index;
    this.slot = this.slotOf(index);
    return this.slot;
  }

  private slotOf(index: number): number {
    const slot = index % this.buckets;
    return slot < 0 ? slot + this.buckets : slot;
  }
}
