/**
 * The circuit breaker: a pure, synchronous state machine.
 *
 * It decides and nothing else: no timers, no I/O, no logging. Time comes in through an
 * injected monotonic clock; whoever runs the calls (execute, a probe loop, a proxy) reports
 * their results and listens to its events.
 */
import { monotonicClock, type Clock } from './clock';
import { Listeners } from './listeners';
import { backoffWindow, type BackoffSettings } from './policies/backoff';
import { FailureRate, slidingWindow } from './policies/failure-rate';
import { windowWithRetryAfter } from './policies/retry-after';
import type { SlidingWindowOptions, WindowCounts } from './policies/sliding-window';
import { slowReason } from './policies/slow-calls';

/** `isolated`: held open by hand (`isolate()`) until `reset()`; no window runs out, no trial is admitted. */
export type State = 'closed' | 'open' | 'half_open' | 'isolated';

export interface BreakerOptions {
  /** consecutive failures that trip closed -> open; default 3 */
  readonly errorThreshold?: number;
  /** consecutive trial successes that close a half_open circuit; default 3 */
  readonly successThreshold?: number;
  /** how long the circuit stays open before it admits trials, in ms; default 10 000 */
  readonly openWindowMs?: number;
  /** trial calls allowed in flight at once while half_open; default 1 */
  readonly halfOpenMaxCalls?: number;
  /** a monotonic clock in ms; default `performance.now()` */
  readonly clock?: Clock;
  /**
   * percent of failures (1-100) over the sliding window that trips closed -> open, beside the
   * consecutive trip (whichever comes first); default: off
   */
  readonly failureRateThreshold?: number;
  /** the rate's window: the last N calls (`{ calls: 20 }`, the default) or a time (`{ timeMs: 60_000 }`, 10 buckets) */
  readonly slidingWindow?: SlidingWindowOptions;
  /** calls the window must hold before the rate can trip; default 10 */
  readonly minimumCalls?: number;
  /**
   * ms over which a success counts as a failure (`slow: 1800 ms`): the outcome's durationMs, or
   * the time since admission on the clock; default: off
   */
  readonly slowCallThresholdMs?: number;
  /** the longest open window: each reopening without a close doubles it, up to this; default openWindowMs (no backoff) */
  readonly maxOpenWindowMs?: number;
  /** share (0-1) a grown window may be shortened by at random; default 0.1 */
  readonly jitter?: number;
  /** random numbers in [0, 1) for the jitter; default Math.random */
  readonly random?: () => number;
  /** a failure's retryAfterMs lengthens the window it opens (up to one hour); default true */
  readonly honorRetryAfter?: boolean;
}

export const BREAKER_DEFAULTS = {
  errorThreshold: 3,
  successThreshold: 3,
  openWindowMs: 10_000,
  halfOpenMaxCalls: 1,
  slidingWindow: { calls: 20 },
  minimumCalls: 10,
  jitter: 0.1,
  honorRetryAfter: true,
} as const;

type Settings = { -readonly [K in 'errorThreshold' | 'successThreshold' | 'openWindowMs' | 'halfOpenMaxCalls']: number };

/** Why a transition happened; the shell turns this into words. */
export type TransitionCause =
  | { readonly kind: 'failures'; readonly failures: number; readonly lastReason: string }
  /**
   * the failure rate over the sliding window reached the threshold: `calls` in the window (for a
   * time window, `windowMs` says its length), `failures` of them, `lastReason` the last failure's
   */
  | {
      readonly kind: 'failure_rate';
      readonly ratePercent: number;
      readonly calls: number;
      readonly failures: number;
      readonly windowMs?: number;
      readonly lastReason: string;
    }
  | { readonly kind: 'window_elapsed' }
  | { readonly kind: 'trial_failed'; readonly lastReason: string }
  | { readonly kind: 'trials_succeeded'; readonly successes: number }
  /** isolate() or reset() */
  | { readonly kind: 'manual' };

export interface Transition {
  /** the state left */
  readonly from: State;
  /** the state entered */
  readonly to: State;
  /** clock time of the change, ms */
  readonly at: number;
  /** why the state changed: a trip, a trial's outcome, the end of the open window, a manual call */
  readonly cause: TransitionCause;
  /** when `to` is open: ms until the circuit admits a trial (the window in force) */
  readonly openForMs?: number;
  /** when `to` is open and the failure's Retry-After made the window longer: that Retry-After (capped), ms */
  readonly retryAfterMs?: number;
}

/**
 * Proof that a call was admitted. Results are reported with it, so a call that started in a
 * state that has since ended (another epoch) cannot touch the new state.
 */
export interface Ticket {
  /** the state period it was admitted in: an outcome from an earlier period is late and changes nothing */
  readonly epoch: number;
  /** whether the call is a half_open trial */
  readonly trial: boolean;
}

/** The breaker's own view of a ticket: it is settled by the first record or release. */
interface IssuedTicket extends Ticket {
  settled: boolean;
  /** clock time of admission when slow calls are measured; NaN otherwise */
  readonly startedAt: number;
}

/**
 * A call not admitted: the state that refused it, and ms until a trial is admitted (0 when
 * half_open: a slot frees when a trial ends; none when isolated: only reset() ends it).
 */
export type Rejection =
  | { readonly admitted: false; readonly state: 'open' | 'half_open'; readonly retryAfterMs: number }
  | { readonly admitted: false; readonly state: 'isolated'; readonly retryAfterMs: undefined };

export type Admission = { readonly admitted: true; readonly ticket: Ticket } | Rejection;

/**
 * How a call ended. `durationMs`: how long it took (for slow calls; measured from admission when
 * absent). `retryAfterMs`: how long the upstream asked us to wait (its Retry-After).
 */
export type Outcome =
  | { readonly ok: true; readonly durationMs?: number }
  | { readonly ok: false; readonly reason: string; readonly durationMs?: number; readonly retryAfterMs?: number };

/** What `record` did with a result: counted, or ignored because its state has ended. */
export type RecordResult = 'counted' | 'late';

export interface BreakerSnapshot {
  readonly state: State;
  /** clock time the current state began, ms */
  readonly since: number;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
  readonly trialsInFlight: number;
  /** calls admitted in this state whose result is not reported yet (trials included); see CircuitBreaker.callsInFlight */
  readonly callsInFlight: number;
  /** while open: ms until a trial is admitted; otherwise 0 */
  readonly msUntilTrial: number;
  /**
   * the window in force: while open, this window's length; otherwise the one the next opening
   * would get (before jitter and any Retry-After), ms
   */
  readonly openWindowMs: number;
  /** the failure-rate window's calls and failures; undefined without a failureRateThreshold */
  readonly window: WindowCounts | undefined;
}

/** A counted call result; `trial` when it was a half_open trial. */
export interface CallEvent {
  /** clock time it was recorded, ms */
  readonly at: number;
  readonly trial: boolean;
}

export interface FailureEvent extends CallEvent {
  readonly reason: string;
}

/** A result reported after its state had ended: ignored. */
export interface LateEvent {
  /** clock time the result arrived, ms */
  readonly at: number;
  /** the result, as the caller recorded it */
  readonly outcome: Outcome;
}

/** What a breaker tells its listeners; every event is emitted synchronously, in order. */
export interface BreakerEvents {
  /** the state changed (exactly one event per change) */
  readonly transition: Transition;
  /** a success was counted (emitted before any transition it causes) */
  readonly success: CallEvent;
  /** a failure was counted (emitted before any transition it causes) */
  readonly failure: FailureEvent;
  /** a call was not admitted */
  readonly rejected: Rejection;
  /** a result arrived after its state had ended and was ignored */
  readonly late: LateEvent;
}

export type BreakerEventName = keyof BreakerEvents;
export type BreakerListener<E extends BreakerEventName> = (event: BreakerEvents[E]) => void;
export type TransitionListener = BreakerListener<'transition'>;

export class CircuitBreaker {
  private current: State = 'closed';
  private epoch = 0;
  private since: number;
  private failures = 0;
  private successes = 0;
  /** tickets of this epoch not yet settled: while half_open, the trials in flight */
  private inFlight = 0;
  /** trial failures since the last close: the backoff's exponent */
  private reopenings = 0;
  /** the current open window, ms */
  private windowMs: number;
  /** the reason of the last failure counted while closed, for the rate's cause */
  private lastFailure = '';
  private readonly options: Settings;
  private readonly clock: Clock;
  private readonly rate: FailureRate | undefined;
  /** a time window's length, for the rate's cause; undefined for a count window */
  private readonly rateWindowMs: number | undefined;
  private readonly rateTimed: boolean;
  private readonly slowCallThresholdMs: number | undefined;
  private readonly backoff: BackoffSettings;
  private readonly random: () => number;
  private readonly honorRetryAfter: boolean;
  private readonly transitionListeners = new Listeners<Transition>();
  private readonly successListeners = new Listeners<CallEvent>();
  private readonly failureListeners = new Listeners<FailureEvent>();
  private readonly rejectionListeners = new Listeners<Rejection>();
  private readonly lateListeners = new Listeners<LateEvent>();

  constructor(options: BreakerOptions = {}) {
    const { clock = monotonicClock, ...given } = options;
    const settings: Settings = { ...BREAKER_DEFAULTS };
    for (const key of ['errorThreshold', 'successThreshold', 'halfOpenMaxCalls'] as const) {
      const value = given[key];
      if (value === undefined) continue;
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${key} must be an integer >= 1, got ${value}`);
      settings[key] = value;
    }
    if (given.openWindowMs !== undefined) {
      if (!(given.openWindowMs > 0) || !Number.isFinite(given.openWindowMs)) {
        throw new RangeError(`openWindowMs must be a finite number > 0, got ${given.openWindowMs}`);
      }
      settings.openWindowMs = given.openWindowMs;
    }
    this.options = settings;
    this.clock = clock;
    this.since = clock.now();
    this.windowMs = settings.openWindowMs;
    this.rate = rateRule(given);
    const window = given.slidingWindow;
    this.rateWindowMs = window !== undefined && 'timeMs' in window ? window.timeMs : undefined;
    this.rateTimed = this.rate?.timed ?? false;
    this.slowCallThresholdMs = positive('slowCallThresholdMs', given.slowCallThresholdMs);
    const maxMs = positive('maxOpenWindowMs', given.maxOpenWindowMs) ?? settings.openWindowMs;
    if (maxMs < settings.openWindowMs) throw new RangeError(`maxOpenWindowMs (${maxMs}) must be >= openWindowMs (${settings.openWindowMs})`);
    const jitter = given.jitter ?? BREAKER_DEFAULTS.jitter;
    if (!(jitter >= 0 && jitter <= 1)) throw new RangeError(`jitter must be between 0 and 1, got ${jitter}`);
    this.backoff = { baseMs: settings.openWindowMs, maxMs, jitter };
    this.random = given.random ?? Math.random;
    this.honorRetryAfter = given.honorRetryAfter ?? BREAKER_DEFAULTS.honorRetryAfter;
  }

  /** The state as of now; moves open -> half_open first when the window has ended. */
  get state(): State {
    this.advance();
    return this.current;
  }

  /** Listens to one kind of event; returns the function that stops listening. */
  on<E extends BreakerEventName>(event: E, listener: BreakerListener<E>): () => void {
    return this.listenersOf(event).add(listener);
  }

  /** Listens to transitions; returns the function that stops listening. */
  onTransition(listener: TransitionListener): () => void {
    return this.transitionListeners.add(listener);
  }

  /**
   * Moves open -> half_open when the window has ended. The breaker has no timers: the shell
   * calls this (directly or through any other method) when it knows the window is over.
   */
  advance(now?: number): void {
    if (this.current === 'open' && this.msUntilTrial(now ?? this.clock.now()) === 0) {
      this.transition('half_open', { kind: 'window_elapsed' });
    }
  }

  /** Asks to start a call. Never queues: either a ticket now, or a rejection now. */
  tryAcquire(): Admission {
    if (this.current === 'closed') {
      this.inFlight += 1;
      return { admitted: true, ticket: this.issue(false) };
    }
    if (this.current === 'isolated') return this.reject(ISOLATED);
    // one clock read per call: it is most of what a rejection costs
    const now = this.clock.now();
    this.advance(now);
    if (this.current === 'open') return this.reject({ admitted: false, state: 'open', retryAfterMs: this.msUntilTrial(now) });
    // half_open (advance only ever moves open -> half_open)
    if (this.inFlight >= this.options.halfOpenMaxCalls) return this.reject({ admitted: false, state: 'half_open', retryAfterMs: 0 });
    this.inFlight += 1;
    return { admitted: true, ticket: this.issue(true) };
  }

  /**
   * Calls admitted in the current state whose result has not been reported (by record or release):
   * while half_open, the trials in flight. A call from an ended state is not counted (its result
   * would be late). A registry reads it to evict only idle breakers.
   */
  get callsInFlight(): number {
    return this.inFlight;
  }

  /** Whether a ticket still belongs to the current state (its result would be counted). */
  isCurrent(ticket: Ticket): boolean {
    return ticket.epoch === this.epoch;
  }

  /**
   * Reports how an admitted call ended. A result from an ended state is ignored ('late'), and so
   * is a second report for the same ticket.
   */
  record(ticket: Ticket, reported: Outcome): RecordResult {
    if (!settle(ticket)) return 'late';
    if (ticket.epoch !== this.epoch) {
      if (this.lateListeners.size > 0) this.lateListeners.emit({ at: this.clock.now(), outcome: reported });
      return 'late';
    }
    this.inFlight -= 1;
    // judged only when slow calls are measured: the plain success path stays as it was
    const outcome = this.slowCallThresholdMs === undefined ? reported : this.judge(ticket, reported);
    if (outcome.ok) {
      if (this.successListeners.size > 0) this.successListeners.emit({ at: this.clock.now(), trial: ticket.trial });
    } else if (this.failureListeners.size > 0) {
      this.failureListeners.emit({ at: this.clock.now(), trial: ticket.trial, reason: outcome.reason });
    }
    // the common case first, in few bytes, so that engines keep inlining record() into its callers
    if (this.current === 'closed' && outcome.ok && this.rate === undefined) this.failures = 0;
    else if (this.current === 'closed') this.countClosed(outcome);
    else this.countTrial(outcome);
    return 'counted';
  }

  /** A counted result while closed: the consecutive trip, then the failure rate. */
  private countClosed(outcome: Outcome): void {
    if (outcome.ok) {
      this.failures = 0;
    } else {
      this.failures += 1;
      this.lastFailure = outcome.reason;
      if (this.failures >= this.options.errorThreshold) {
        this.open({ kind: 'failures', failures: this.failures, lastReason: outcome.reason }, outcome);
        return;
      }
    }
    if (this.rate !== undefined) {
      // a count window needs no time: no clock read on its path
      const trip = this.rate.add(!outcome.ok, this.rateTimed ? this.clock.now() : 0);
      if (trip !== undefined) this.open({ kind: 'failure_rate', ...trip, ...this.rateWindow(), lastReason: this.lastFailure }, outcome);
    }
  }

  /** A counted trial result; only trials carry a half_open epoch (open and isolated admit nothing; every transition bumps the epoch). */
  private countTrial(outcome: Outcome): void {
    if (!outcome.ok) {
      this.open({ kind: 'trial_failed', lastReason: outcome.reason }, outcome);
    } else {
      this.successes += 1;
      if (this.successes >= this.options.successThreshold) {
        this.transition('closed', { kind: 'trials_succeeded', successes: this.successes });
      }
    }
  }

  /**
   * The outcome as the breaker counts it: a success slower than slowCallThresholdMs (its
   * durationMs, or the time since the ticket's admission) becomes a failure `slow: <ms> ms`.
   * Lets a caller log what will be counted before it records it.
   */
  judge(ticket: Ticket, outcome: Outcome): Outcome {
    if (!outcome.ok || this.slowCallThresholdMs === undefined) return outcome;
    const durationMs = outcome.durationMs ?? this.clock.now() - (ticket as IssuedTicket).startedAt;
    const reason = slowReason(durationMs, this.slowCallThresholdMs);
    return reason === undefined ? outcome : { ok: false, reason, durationMs };
  }

  /**
   * Holds the circuit open by hand (state `isolated`) until `reset()`: every call is rejected, no
   * trial is admitted. Calls in flight become late. False when it already was isolated.
   */
  isolate(): boolean {
    if (this.current === 'isolated') return false;
    this.transition('isolated', MANUAL);
    return true;
  }

  /**
   * Closes the circuit by hand with fresh counters, from any state. Calls in flight become late.
   * False when it was closed already (its counters are reset all the same, without a transition).
   */
  reset(): boolean {
    if (this.current === 'closed') {
      this.failures = 0;
      this.rate?.clear();
      return false;
    }
    this.transition('closed', MANUAL);
    return true;
  }

  /** Gives back a ticket whose call ended without an outcome (aborted by us), freeing its trial slot. */
  release(ticket: Ticket): void {
    if (settle(ticket) && ticket.epoch === this.epoch) this.inFlight -= 1;
  }

  /** The breaker as it is now (state, counts, settings in force), for a status page or a metric. */
  snapshot(): BreakerSnapshot {
    this.advance();
    return {
      state: this.current,
      since: this.since,
      consecutiveFailures: this.failures,
      consecutiveSuccesses: this.successes,
      trialsInFlight: this.current === 'half_open' ? this.inFlight : 0,
      callsInFlight: this.inFlight,
      msUntilTrial: this.msUntilTrial(),
      openWindowMs: this.openWindowInForce(),
      window: this.rate?.counts(this.clock.now()),
    };
  }

  /** While open: ms until a trial is admitted (0 once the window has ended); otherwise 0. */
  msUntilTrial(now: number = this.clock.now()): number {
    if (this.current !== 'open') return 0;
    return Math.max(0, this.since + this.windowMs - now);
  }

  /** See BreakerSnapshot.openWindowMs. */
  private openWindowInForce(): number {
    if (this.current === 'open') return this.windowMs;
    const reopenings = this.current === 'half_open' ? this.reopenings + 1 : 0;
    return Math.min(this.backoff.maxMs, this.backoff.baseMs * 2 ** reopenings);
  }

  /** For the rate's cause: a time window's length. */
  private rateWindow(): { windowMs?: number } {
    return this.rateWindowMs === undefined ? {} : { windowMs: this.rateWindowMs };
  }

  /**
   * Opens the circuit because of `outcome`: a reopening from half_open backs the window off, and
   * the failure's Retry-After may make it longer.
   */
  private open(cause: TransitionCause, outcome: Outcome): void {
    this.reopenings = this.current === 'half_open' ? this.reopenings + 1 : 0;
    const own = backoffWindow(this.reopenings, this.backoff, this.random);
    const retryAfterMs = this.honorRetryAfter && !outcome.ok ? outcome.retryAfterMs : undefined;
    this.windowMs = windowWithRetryAfter(own, retryAfterMs);
    this.transition('open', cause, this.windowMs > own ? this.windowMs : undefined);
  }

  private reject(rejection: Rejection): Rejection {
    if (this.rejectionListeners.size > 0) this.rejectionListeners.emit(rejection);
    return rejection;
  }

  private listenersOf<E extends BreakerEventName>(event: E): Listeners<BreakerEvents[E]> {
    const table: { readonly [K in BreakerEventName]: Listeners<BreakerEvents[K]> } = {
      transition: this.transitionListeners,
      success: this.successListeners,
      failure: this.failureListeners,
      rejected: this.rejectionListeners,
      late: this.lateListeners,
    };
    const listeners = table[event] as Listeners<BreakerEvents[E]> | undefined;
    if (listeners === undefined) throw new TypeError(`unknown breaker event: ${String(event)}`);
    return listeners;
  }

  private issue(trial: boolean): IssuedTicket {
    // the clock is read on admission only when slow calls are measured
    return { epoch: this.epoch, trial, settled: false, startedAt: this.slowCallThresholdMs === undefined ? NaN : this.clock.now() };
  }

  private transition(to: State, cause: TransitionCause, retryAfterMs?: number): void {
    const from = this.current;
    const at = this.clock.now();
    this.current = to;
    this.epoch += 1;
    this.since = at;
    this.failures = 0;
    this.successes = 0;
    this.inFlight = 0;
    this.rate?.clear();
    if (to === 'closed') this.reopenings = 0;
    const event: Transition =
      to !== 'open'
        ? { from, to, at, cause }
        : retryAfterMs === undefined
          ? { from, to, at, cause, openForMs: this.windowMs }
          : { from, to, at, cause, openForMs: this.windowMs, retryAfterMs };
    this.transitionListeners.emit(event);
  }
}

/** Validates an optional number > 0. */
function positive(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`${name} must be a finite number > 0, got ${value}`);
  return value;
}

/** The failure-rate rule the options ask for, or undefined when failureRateThreshold is not set. */
function rateRule(given: BreakerOptions): FailureRate | undefined {
  const threshold = given.failureRateThreshold;
  if (threshold === undefined) return undefined;
  if (!(threshold > 0 && threshold <= 100)) throw new RangeError(`failureRateThreshold must be a percent > 0 and <= 100, got ${threshold}`);
  const minimumCalls = given.minimumCalls ?? BREAKER_DEFAULTS.minimumCalls;
  if (!Number.isInteger(minimumCalls) || minimumCalls < 1) throw new RangeError(`minimumCalls must be an integer >= 1, got ${minimumCalls}`);
  const window = given.slidingWindow ?? BREAKER_DEFAULTS.slidingWindow;
  if ('calls' in window) {
    if (!Number.isInteger(window.calls) || window.calls < 1) throw new RangeError(`slidingWindow.calls must be an integer >= 1, got ${window.calls}`);
  } else {
    positive('slidingWindow.timeMs', window.timeMs);
    const buckets = window.buckets;
    if (buckets !== undefined && (!Number.isInteger(buckets) || buckets < 1)) throw new RangeError(`slidingWindow.buckets must be an integer >= 1, got ${buckets}`);
  }
  return new FailureRate(slidingWindow(window), threshold, minimumCalls);
}

const ISOLATED: Rejection = { admitted: false, state: 'isolated', retryAfterMs: undefined };
const MANUAL: TransitionCause = { kind: 'manual' };

/** Marks a ticket settled; false when it already was (or was not issued by a breaker). */
function settle(ticket: Ticket): boolean {
  const issued = ticket as IssuedTicket;
  if (issued.settled !== false) return false;
  issued.settled = true;
  return true;
}
