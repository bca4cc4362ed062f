/**
 * The circuit breaker: a pure, synchronous state machine.
 *
 * It decides and nothing else: no timers, no I/O, no logging. Time comes in through an
 * injected monotonic clock; whoever runs the calls (execute, a probe loop, a proxy) reports
 * their results and listens to its events.
 */
import { monotonicClock, type Clock } from './clock';
import { Listeners } from './listeners';

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
}

export const BREAKER_DEFAULTS = {
  errorThreshold: 3,
  successThreshold: 3,
  openWindowMs: 10_000,
  halfOpenMaxCalls: 1,
} as const satisfies Required<Omit<BreakerOptions, 'clock'>>;

type Settings = { -readonly [K in keyof typeof BREAKER_DEFAULTS]: number };

/** Why a transition happened; the shell turns this into words. */
export type TransitionCause =
  | { readonly kind: 'failures'; readonly failures: number; readonly lastReason: string }
  | { readonly kind: 'window_elapsed' }
  | { readonly kind: 'trial_failed'; readonly lastReason: string }
  | { readonly kind: 'trials_succeeded'; readonly successes: number }
  /** isolate() or reset() */
  | { readonly kind: 'manual' };

export interface Transition {
  readonly from: State;
  readonly to: State;
  /** clock time of the change, ms */
  readonly at: number;
  readonly cause: TransitionCause;
  /** when `to` is open: ms until the circuit admits a trial */
  readonly openForMs?: number;
}

/**
 * Proof that a call was admitted. Results are reported with it, so a call that started in a
 * state that has since ended (another epoch) cannot touch the new state.
 */
export interface Ticket {
  readonly epoch: number;
  readonly trial: boolean;
}

/** The breaker's own view of a ticket: it is settled by the first record or release. */
interface IssuedTicket extends Ticket {
  settled: boolean;
}

/**
 * A call not admitted: the state that refused it, and ms until a trial is admitted (0 when
 * half_open: a slot frees when a trial ends; none when isolated: only reset() ends it).
 */
export type Rejection =
  | { readonly admitted: false; readonly state: 'open' | 'half_open'; readonly retryAfterMs: number }
  | { readonly admitted: false; readonly state: 'isolated'; readonly retryAfterMs: undefined };

export type Admission = { readonly admitted: true; readonly ticket: Ticket } | Rejection;

export type Outcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** What `record` did with a result: counted, or ignored because its state has ended. */
export type RecordResult = 'counted' | 'late';

export interface BreakerSnapshot {
  readonly state: State;
  /** clock time the current state began, ms */
  readonly since: number;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
  readonly trialsInFlight: number;
  /** while open: ms until a trial is admitted; otherwise 0 */
  readonly msUntilTrial: number;
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
  readonly at: number;
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
  private trialsInFlight = 0;
  private readonly options: Settings;
  private readonly clock: Clock;
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
    if (this.current === 'closed') return { admitted: true, ticket: this.issue(false) };
    if (this.current === 'isolated') return this.reject(ISOLATED);
    // one clock read per call: it is most of what a rejection costs
    const now = this.clock.now();
    this.advance(now);
    if (this.current === 'open') return this.reject({ admitted: false, state: 'open', retryAfterMs: this.msUntilTrial(now) });
    // half_open (advance only ever moves open -> half_open)
    if (this.trialsInFlight >= this.options.halfOpenMaxCalls) return this.reject({ admitted: false, state: 'half_open', retryAfterMs: 0 });
    this.trialsInFlight += 1;
    return { admitted: true, ticket: this.issue(true) };
  }

  /** Whether a ticket still belongs to the current state (its result would be counted). */
  isCurrent(ticket: Ticket): boolean {
    return ticket.epoch === this.epoch;
  }

  /**
   * Reports how an admitted call ended. A result from an ended state is ignored ('late'), and so
   * is a second report for the same ticket.
   */
  record(ticket: Ticket, outcome: Outcome): RecordResult {
    if (!settle(ticket)) return 'late';
    if (ticket.epoch !== this.epoch) {
      if (this.lateListeners.size > 0) this.lateListeners.emit({ at: this.clock.now(), outcome });
      return 'late';
    }
    if (outcome.ok) {
      if (this.successListeners.size > 0) this.successListeners.emit({ at: this.clock.now(), trial: ticket.trial });
    } else if (this.failureListeners.size > 0) {
      this.failureListeners.emit({ at: this.clock.now(), trial: ticket.trial, reason: outcome.reason });
    }
    if (this.current === 'closed') {
      if (outcome.ok) {
        this.failures = 0;
      } else {
        this.failures += 1;
        if (this.failures >= this.options.errorThreshold) {
          this.transition('open', { kind: 'failures', failures: this.failures, lastReason: outcome.reason });
        }
      }
      return 'counted';
    }
    // half_open: only trials carry this epoch (open and isolated admit nothing; every transition bumps the epoch)
    this.trialsInFlight -= 1;
    if (!outcome.ok) {
      this.transition('open', { kind: 'trial_failed', lastReason: outcome.reason });
    } else {
      this.successes += 1;
      if (this.successes >= this.options.successThreshold) {
        this.transition('closed', { kind: 'trials_succeeded', successes: this.successes });
      }
    }
    return 'counted';
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
      return false;
    }
    this.transition('closed', MANUAL);
    return true;
  }

  /** Gives back a ticket whose call ended without an outcome (aborted by us), freeing its trial slot. */
  release(ticket: Ticket): void {
    if (settle(ticket) && ticket.epoch === this.epoch && ticket.trial) this.trialsInFlight -= 1;
  }

  snapshot(): BreakerSnapshot {
    this.advance();
    return {
      state: this.current,
      since: this.since,
      consecutiveFailures: this.failures,
      consecutiveSuccesses: this.successes,
      trialsInFlight: this.trialsInFlight,
      msUntilTrial: this.msUntilTrial(),
    };
  }

  /** While open: ms until a trial is admitted (0 once the window has ended); otherwise 0. */
  msUntilTrial(now: number = this.clock.now()): number {
    if (this.current !== 'open') return 0;
    return Math.max(0, this.since + this.options.openWindowMs - now);
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
    return { epoch: this.epoch, trial, settled: false };
  }

  private transition(to: State, cause: TransitionCause): void {
    const from = this.current;
    const at = this.clock.now();
    this.current = to;
    this.epoch += 1;
    this.since = at;
    this.failures = 0;
    this.successes = 0;
    this.trialsInFlight = 0;
    const event: Transition =
      to === 'open' ? { from, to, at, cause, openForMs: this.options.openWindowMs } : { from, to, at, cause };
    this.transitionListeners.emit(event);
  }
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
