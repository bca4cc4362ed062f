/**
 * The "usual" latency an adaptive limit compares against: the lowest smoothed latency over the
 * last two windows of `windowMs` that saw a successful call. Only successes are added (a timeout
 * or a failure never teaches it anything), and a window without one neither teaches nor forgets:
 * through an outage with no successes the baseline stays what it was. It falls to a lower value
 * at once; it rises only when the caller allows it (`mayRise`): then a lasting higher latency is
 * the baseline one to two windows later, once no earlier window counts. Two numbers; O(1).
 */
export class Baseline {
  /** the lowest value added in the current window */
  private current = Infinity;
  /** the lowest value of the window before (or, while the baseline may not rise, of every window before) */
  private previous = Infinity;
  /** clock time the current window began; NaN before the first value */
  private startedAt = NaN;

  constructor(private readonly windowMs: number) {}

  /** The baseline, ms; undefined before the first value. */
  get value(): number | undefined {
    const lowest = this.lowest;
    return lowest === Infinity ? undefined : lowest;
  }

  /** The baseline, ms; Infinity before the first value (always a number: no boxing on a hot path). */
  get lowest(): number {
    return Math.min(this.current, this.previous);
  }

  /** Adds a successful call's smoothed latency at `now`; `mayRise`: an ending window may let a higher baseline in. */
  add(latencyMs: number, now: number, mayRise: boolean): void {
    if (!(now - this.startedAt < this.windowMs)) {
      // the window that ended saw a success (values only come in here): it becomes the previous one,
      // or, while the baseline may not rise, it can only lower the previous one
      this.previous = mayRise ? this.current : Math.min(this.previous, this.current);
      this.current = latencyMs;
      this.startedAt = now;
    } else if (latencyMs < this.current) {
      this.current = latencyMs;
    }
  }
}
