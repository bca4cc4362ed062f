/**
 * The probe loop: one probe in flight at most, every PROBE_INTERVAL while closed or half_open;
 * while open no network call, one "skipped" line per interval, and the trial probe sent when
 * the window ends rather than at the next interval tick.
 */
import type { CircuitBreaker, Clock, Outcome, Ticket, Transition } from '@circuit-breaker-demo/breaker';
import type { LastOutcome } from '../last-outcome';
import { formatSeconds, type Logger } from '../logger';
import type { CallObserver } from '../metrics';
import type { Probe, ProbeResult } from './probe';
import { realTimers, type Timers } from '../timers';


/** What the loop works with; `timers` and `observer` are optional. */
export interface LoopDeps {
  readonly breaker: CircuitBreaker;
  readonly probe: Probe;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly timers?: Timers;
  /** told how every probe ended, and of every skipped one (the metrics) */
  readonly observer?: CallObserver;
  /** given every probe result the breaker counts (for /status) */
  readonly lastOutcome?: LastOutcome;
}

const noObserver: CallObserver = { callEnded: () => undefined, callRejected: () => undefined };

export interface LoopOptions {
  readonly probeIntervalMs: number;
  readonly errorThreshold: number;
  readonly successThreshold: number;
}

/** The last probe that ended, for /status. */
export interface LastProbe {
  /** wall-clock time it ended, ISO-8601 */
  readonly at: string;
  readonly result: Exclude<ProbeResult, { kind: 'aborted' }>;
}

/** How close to the window's end an interval tick may fall before the loop waits for the end instead. */
const WINDOW_SLACK_MS = 50;

/** What the next tick is for: a regular interval, or the end of the open window. */
type TickKind = 'interval' | 'window';

export class ProbeLoop {
  private timer: unknown;
  private dueAt = Infinity;
  private inFlight: { controller: AbortController; done: Promise<void> } | undefined;
  private running = false;
  private unsubscribe: (() => void) | undefined;
  private last: LastProbe | undefined;
  private lastActivityAt: number;
  private readonly breaker: CircuitBreaker;
  private readonly probe: Probe;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly observer: CallObserver;
  private readonly lastOutcome: LastOutcome | undefined;

  constructor(
    deps: LoopDeps,
    private readonly options: LoopOptions,
  ) {
    ({ breaker: this.breaker, probe: this.probe, logger: this.logger, clock: this.clock } = deps);
    this.timers = deps.timers ?? realTimers;
    this.observer = deps.observer ?? noObserver;
    this.lastOutcome = deps.lastOutcome;
    this.lastActivityAt = this.clock.now();
  }

  get lastProbe(): LastProbe | undefined {
    return this.last;
  }

  /** Clock time of the last tick or probe end: /healthz uses it to tell the loop is alive. */
  get lastActivity(): number {
    return this.lastActivityAt;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Starts probing at once. */
  start(): void {
    if (this.running) return;
    this.running = true;
    // A call from elsewhere (the proxy) may open the circuit while we wait out an interval:
    // wake up for the window's end so the trial is not late.
    this.unsubscribe = this.breaker.onTransition((transition) => this.onTransition(transition));
    this.schedule(0, 'interval');
  }

  /** Stops probing and aborts the probe in flight; resolves when it has ended. */
  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.cancelTimer();
    const inFlight = this.inFlight;
    if (inFlight) {
      inFlight.controller.abort();
      await inFlight.done;
    }
  }

  private onTransition(transition: Transition): void {
    if (transition.to !== 'open' || this.inFlight || !this.running) return;
    const windowEndsIn = this.breaker.msUntilTrial();
    if (this.clock.now() + windowEndsIn < this.dueAt) this.schedule(windowEndsIn, 'window');
  }

  private schedule(delayMs: number, kind: TickKind): void {
    this.cancelTimer();
    // +1 ms: timers round to whole milliseconds and must not wake just before the window ends
    const delay = kind === 'window' ? Math.ceil(delayMs) + 1 : Math.max(0, delayMs);
    this.dueAt = this.clock.now() + delay;
    this.timer = this.timers.setTimeout(() => this.tick(kind), delay);
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.dueAt = Infinity;
  }

  /** Schedules the tick after a probe (its ticket given) or a skip that began at `startedAt`. */
  private scheduleNext(startedAt: number, ticket?: Ticket): void {
    if (!this.running) return;
    const state = this.breaker.state; // moves open -> half_open when the window has ended
    const nextInterval = Math.max(0, startedAt + this.options.probeIntervalMs - this.clock.now());
    if (state === 'open') {
      const windowEndsIn = this.breaker.msUntilTrial();
      // a skip line just before the window ends says nothing: wait for the window instead
      if (windowEndsIn <= nextInterval + WINDOW_SLACK_MS) this.schedule(windowEndsIn, 'window');
      else this.schedule(nextInterval, 'interval');
    } else if (state === 'half_open' && (ticket ? !this.breaker.isCurrent(ticket) : this.breaker.snapshot().since > startedAt)) {
      // the window ended after this tick began (a late probe, or a skip just before the end):
      // the trial is due now, not an interval later
      this.schedule(0, 'interval');
    } else {
      this.schedule(nextInterval, 'interval');
    }
  }

  private tick(kind: TickKind): void {
    this.timer = undefined;
    this.dueAt = Infinity;
    if (!this.running) return;
    const startedAt = this.clock.now();
    this.lastActivityAt = startedAt;
    const admission = this.breaker.tryAcquire();
    if (admission.admitted) {
      this.runProbe(admission.ticket, startedAt);
      return;
    }
    this.observer.callRejected('probe', admission.state);
    if (admission.state === 'open' && kind === 'interval') {
      const retryInSeconds = Number(formatSeconds(admission.retryAfterMs));
      this.logger.info(`probe skipped: circuit open, trial in ${retryInSeconds} s`, {
        event: 'skip',
        state: 'open',
        retryInSeconds,
      });
    } else if (admission.state === 'isolated' && kind === 'interval') {
      this.logger.info('probe skipped: circuit isolated until reset', { event: 'skip', state: 'isolated' });
    } else if (admission.state === 'half_open') {
      this.logger.debug('probe skipped: circuit half_open and every trial slot is taken', { event: 'skip', state: 'half_open' });
    }
    this.scheduleNext(startedAt);
  }

  private runProbe(ticket: Ticket, startedAt: number): void {
    const controller = new AbortController();
    const done = this.probe(controller.signal)
      .then((result) => this.settle(ticket, result))
      .catch((error: unknown) => {
        // a probe never throws; if one does, it is a bug of ours, not an upstream fault
        this.breaker.release(ticket);
        this.observer.callEnded('probe', 'aborted');
        this.logger.error(`probe crashed: ${String(error)}`, { event: 'error' });
      })
      .finally(() => {
        this.inFlight = undefined;
        this.lastActivityAt = this.clock.now();
        this.scheduleNext(startedAt, ticket);
      });
    this.inFlight = { controller, done };
  }

  private settle(ticket: Ticket, ended: ProbeResult): void {
    let result = ended;
    if (result.kind === 'aborted') {
      this.breaker.release(ticket);
      this.observer.callEnded('probe', 'aborted');
      return;
    }
    const late = !this.breaker.isCurrent(ticket);
    const reported: Outcome =
      result.kind === 'success'
        ? { ok: true, durationMs: result.latencyMs }
        : { ok: false, reason: result.reason, durationMs: result.latencyMs, ...(result.retryAfterMs === undefined ? {} : { retryAfterMs: result.retryAfterMs }) };
    // what the breaker will count: a slow success is a failure (`slow: 1800 ms`)
    const outcome = late ? reported : this.breaker.judge(ticket, reported);
    if (result.kind === 'success' && !outcome.ok) result = { kind: 'failure', reason: outcome.reason, status: result.status, latencyMs: result.latencyMs };
    this.last = { at: new Date().toISOString(), result };
    this.observer.callEnded('probe', late ? 'late' : result.kind, result.latencyMs / 1000);
    if (late) {
      this.breaker.record(ticket, outcome);
      this.logger.info(`probe result ignored: ${describe(result)}; the circuit changed state while it was in flight`, {
        event: 'late',
        ...fields(result),
      });
      return;
    }
    this.lastOutcome?.record('probe', {
      ok: result.kind === 'success',
      status: result.status,
      reason: result.kind === 'failure' ? result.reason : undefined,
      latencyMs: result.latencyMs,
    });
    // log the probe before recording it, so its line comes before the transition it causes
    const before = this.breaker.snapshot();
    if (result.kind === 'success') {
      const trial = ticket.trial ? ` (trial ${before.consecutiveSuccesses + 1}/${this.options.successThreshold})` : '';
      this.logger.info(`probe ok: ${describe(result)}${trial}`, { event: 'probe', state: before.state, ...fields(result) });
    } else if (ticket.trial) {
      this.logger.warn(`probe failed: ${describe(result)} (trial failed)`, { event: 'probe', state: before.state, ...fields(result) });
    } else {
      const failures = before.consecutiveFailures + 1;
      this.logger.warn(`probe failed: ${describe(result)} (${failures}/${this.options.errorThreshold} consecutive failures)`, {
        event: 'probe',
        state: before.state,
        failures,
        ...fields(result),
      });
    }
    this.breaker.record(ticket, outcome);
  }
}

function describe(result: Exclude<ProbeResult, { kind: 'aborted' }>): string {
  if (result.kind === 'success') return `HTTP ${result.status} in ${result.latencyMs} ms`;
  // a timeout's reason already says how long it took, and so does a slow one's
  if (result.reason.startsWith('timeout')) return result.reason;
  if (result.reason.startsWith('slow:')) return `${result.reason} (HTTP ${result.status})`;
  const asked = result.retryAfterMs === undefined ? '' : `, Retry-After ${formatSeconds(result.retryAfterMs)} s`;
  return `${result.reason} in ${result.latencyMs} ms${asked}`;
}

function fields(result: Exclude<ProbeResult, { kind: 'aborted' }>): Record<string, unknown> {
  return result.kind === 'success'
    ? { ok: true, status: result.status, latencyMs: result.latencyMs }
    : {
        ok: false,
        reason: result.reason,
        ...(result.status === undefined ? {} : { status: result.status }),
        latencyMs: result.latencyMs,
        ...(result.retryAfterMs === undefined ? {} : { retryAfterSeconds: result.retryAfterMs / 1000 }),
      };
}
