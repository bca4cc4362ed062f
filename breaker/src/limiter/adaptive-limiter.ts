import { monotonicClock, type Clock } from '../clock';
import { Baseline } from './baseline';
import { unmatchedRelease, wholeLimit, type CallEnd, type ConcurrencyLimiter } from './limiter';

/** The options of an AdaptiveLimiter; every one has a default (ADAPTIVE_LIMITER_DEFAULTS). */
export interface AdaptiveLimiterOptions {
  /** the floor: the limit never goes below it; default 4 */
  readonly minLimit?: number;
  /** the ceiling: the limit never goes above it; default 100 */
  readonly maxLimit?: number;
  /** the limit before anything is learned, and the one an unhurried route drifts back to; default 10 */
  readonly initialLimit?: number;
  /** a smoothed latency above `tolerance` x the baseline is "well above the usual": the limit shrinks; default 2 */
  readonly tolerance?: number;
  /** the weight of each new latency in the smoothed latency (0-1]; default 0.2 */
  readonly smoothing?: number;
  /** the baseline is the lowest smoothed latency over the last two windows of this length, ms; default 500 */
  readonly baselineWindowMs?: number;
  /** a monotonic clock in ms; default `performance.now()` */
  readonly clock?: Clock;
}

/** The defaults, and why (see also the package README, "Concurrency limit"). */
export const ADAPTIVE_LIMITER_DEFAULTS = {
  /**
   * 4: above 1, so one slow call cannot serialise the route and the limit can never be "stuck at 1";
   * small, because after a collapse it is what a hung upstream still ties up per timeout.
   */
  minLimit: 4,
  /** 100: the most a misjudged limit can ever tie up; Little's law: 100 calls/s at 1 s each. */
  maxLimit: 100,
  /**
   * 10: in use from the first call, before any baseline exists (no pinned limit while it is
   * measured): it covers 100 calls/s at 100 ms, and growth starts with the first answer.
   * It is also the blast radius of a hang that starts on a quiet route.
   */
  initialLimit: 10,
  /** 2: latency on a Node event loop wanders; double the usual is a queue, not noise. */
  tolerance: 2,
  /** 0.2: about the last 5-10 calls; one outlier cannot halve the limit, a real step shows in a few calls. */
  smoothing: 0.2,
  /**
   * 500 ms: once the limit is at its floor and the latency is still well above the usual, that
   * latency becomes the usual one within 0.5-1 s, so an upstream that got slower (not queued by
   * us) is not starved for long; and a lower latency is the baseline at once.
   */
  baselineWindowMs: 500,
} as const;

/** A timeout halves the limit: it is the strongest sign of a hung or drowning upstream. */
const TIMEOUT_BACKOFF = 0.5;
/**
 * A failure shrinks it by a tenth: it answered and freed its slot fast, and may say nothing about
 * load (Netflix's concurrency-limits moved its drop backoff from 0.5 to 0.9 for that reason, #146).
 */
const FAILURE_BACKOFF = 0.9;
/** A latency well above the usual scales the limit by tolerance x baseline / latency: at most it halves. */
const LATENCY_BACKOFF = 0.5;
/** The share of the gap to initialLimit one success closes while the calls use under half the limit. */
const RELAX = 0.02;
/**
 * A baseline under 5 ms compares as 5 ms: below that, latency differences are the event loop's own
 * delays (a GC pause, a busy tick) as much as the upstream's, and they keep few calls in flight
 * (Little's law: 100 calls/s x 5 ms is half a call).
 */
const MIN_BASELINE_MS = 5;

/**
 * An adaptive concurrency limit, after Vegas, Gradient2 and Envoy's adaptive concurrency: the limit
 * follows the need (Little's law: in flight = rate x latency), between a floor and a ceiling.
 *
 * - Each success updates the smoothed latency (an exponential average) and the baseline: the
 *   lowest smoothed latency over the last one to two windows (see `Baseline`). Timeouts, failures
 *   and drops never touch either.
 * - Latency near the baseline: while the calls use at least half the limit, each success adds one
 *   (at most doubling per round trip, so the need is found in a few round trips); while they use
 *   less, the limit drifts back to `initialLimit`: a quiet route keeps a small blast radius, and a
 *   limit shrunk by an incident recovers once calls succeed again.
 * - Latency well above it (over `tolerance` x the baseline), a timeout, a failure: the limit
 *   shrinks (see the backoffs above), at most once per round trip: a call admitted before the last
 *   decrease cannot cause another, its bad news is the same news (TCP's rule).
 * - The baseline falls to a lower latency at once, but rises only while the limit is at its floor:
 *   shrinking did not bring the latency down, so it is the upstream's new usual, not our queue.
 *   (A baseline that rises freely follows the queue the limiter itself builds, up to the ceiling.)
 * - `dropped` calls free their slot and change nothing.
 *
 * `tryAcquire` is one comparison; `release` reads the clock once, unless given `endedAt`; neither allocates
 * (the clock may: `performance.now()` returns a fresh number on Node 20).
 */
export class AdaptiveLimiter implements ConcurrencyLimiter {
  readonly clock: Clock;
  /** the limit as a real number; `limit` is it rounded */
  private estimate: number;
  private current: number;
  private calls = 0;
  /** the exponential average of successful calls' latencies; NaN before the first */
  private smoothed = NaN;
  /** clock time of the last decrease */
  private decreasedAt = -Infinity;
  private readonly baseline: Baseline;
  private readonly minLimit: number;
  private readonly maxLimit: number;
  private readonly initialLimit: number;
  private readonly tolerance: number;
  private readonly smoothing: number;

  constructor(options: AdaptiveLimiterOptions = {}) {
    const d = ADAPTIVE_LIMITER_DEFAULTS;
    // a default bound gives way to a given one (maxLimit: 3 alone is not an error)
    const given = { min: options.minLimit, max: options.maxLimit, initial: options.initialLimit };
    this.maxLimit = wholeLimit('maxLimit', given.max ?? Math.max(d.maxLimit, given.min ?? 0, given.initial ?? 0));
    this.minLimit = wholeLimit('minLimit', given.min ?? Math.min(d.minLimit, this.maxLimit, given.initial ?? Infinity));
    if (this.maxLimit < this.minLimit) throw new RangeError(`maxLimit (${this.maxLimit}) must be >= minLimit (${this.minLimit})`);
    this.initialLimit = wholeLimit('initialLimit', given.initial ?? Math.min(Math.max(d.initialLimit, this.minLimit), this.maxLimit));
    if (this.initialLimit < this.minLimit || this.initialLimit > this.maxLimit) {
      throw new RangeError(`initialLimit (${this.initialLimit}) must be between minLimit (${this.minLimit}) and maxLimit (${this.maxLimit})`);
    }
    this.tolerance = options.tolerance ?? d.tolerance;
    if (!(this.tolerance >= 1) || !Number.isFinite(this.tolerance)) throw new RangeError(`tolerance must be a finite number >= 1, got ${this.tolerance}`);
    this.smoothing = options.smoothing ?? d.smoothing;
    if (!(this.smoothing > 0 && this.smoothing <= 1)) throw new RangeError(`smoothing must be > 0 and <= 1, got ${this.smoothing}`);
    const windowMs = options.baselineWindowMs ?? d.baselineWindowMs;
    if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new RangeError(`baselineWindowMs must be a finite number > 0, got ${windowMs}`);
    this.baseline = new Baseline(windowMs);
    this.clock = options.clock ?? monotonicClock;
    this.estimate = this.initialLimit;
    this.current = this.initialLimit;
  }

  get limit(): number {
    return this.current;
  }

  get inFlight(): number {
    return this.calls;
  }

  /** The smoothed latency of successful calls, ms; undefined before the first. */
  get latencyMs(): number | undefined {
    return Number.isNaN(this.smoothed) ? undefined : this.smoothed;
  }

  /** The usual latency the smoothed one is compared with, ms; undefined before the first success. */
  get baselineMs(): number | undefined {
    return this.baseline.value;
  }

  tryAcquire(): boolean {
    if (this.calls >= this.current) return false;
    this.calls += 1;
    return true;
  }

  release(latencyMs: number, end: CallEnd, endedAt?: number): void {
    if (this.calls === 0) throw unmatchedRelease();
    // busy: the calls use at least half the limit, this one included
    const busy = this.calls * 2 >= this.current;
    this.calls -= 1;
    if (end === 'dropped') return;
    if (!(latencyMs >= 0 && latencyMs < Infinity)) throw new RangeError(`latencyMs must be a finite number >= 0, got ${latencyMs}`);
    const now = endedAt ?? this.clock.now();
    if (end === 'timeout') this.decrease(TIMEOUT_BACKOFF, now - latencyMs, now);
    else if (end === 'failure') this.decrease(FAILURE_BACKOFF, now - latencyMs, now);
    else this.learn(latencyMs, now, busy);
  }

  /** A success: its latency against the usual one. */
  private learn(latencyMs: number, now: number, busy: boolean): void {
    const smoothed = Number.isNaN(this.smoothed) ? latencyMs : this.smoothed + (latencyMs - this.smoothed) * this.smoothing;
    this.smoothed = smoothed;
    this.baseline.add(smoothed, now, this.current === this.minLimit);
    // the baseline has a value now (this success went in): `lowest`, a plain number, not `value`
    const usual = Math.max(this.baseline.lowest, MIN_BASELINE_MS) * this.tolerance;
    if (smoothed > usual) this.decrease(Math.max(LATENCY_BACKOFF, usual / smoothed), now - latencyMs, now);
    else if (busy) this.set(this.estimate + 1);
    else this.set(this.estimate + (this.initialLimit - this.estimate) * RELAX);
  }

  /** Scales the limit by `ratio`, unless the call (started at `startedAt`) was admitted before the last decrease. */
  private decrease(ratio: number, startedAt: number, now: number): void {
    if (startedAt < this.decreasedAt) return;
    this.decreasedAt = now;
    this.set(this.estimate * ratio);
  }

  private set(estimate: number): void {
    this.estimate = Math.min(this.maxLimit, Math.max(this.minLimit, estimate));
    this.current = Math.round(this.estimate);
  }
}
