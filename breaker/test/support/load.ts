import type { CallEnd, CircuitBreaker, ConcurrencyLimiter, Ticket } from '../../src';
import type { FakeClock } from './fake-clock';

/** What the upstream does with a call that starts at `at` (ms since the load began). */
export interface Answer {
  /** ms until it answers; Infinity: it hangs */
  readonly latencyMs: number;
  /** it answers with a failure (a 5xx, a refused connection) */
  readonly fails?: boolean;
}

export interface Load {
  /** calls sent per second, evenly spaced (an open loop: a rejected call is not sent again) */
  readonly ratePerSecond: number;
  readonly durationMs: number;
  readonly upstream: (at: number) => Answer;
  /** a call still running after this long is aborted: a timeout; default none */
  readonly timeoutMs?: number;
  /** a breaker asked first, as execute does: a call it rejects never takes a slot */
  readonly breaker?: CircuitBreaker;
}

/** One call sent: when (ms since the load began) and what became of it. */
export interface Sent {
  readonly at: number;
  readonly outcome: 'admitted' | 'overloaded' | 'circuit_open';
}

export interface LoadResult {
  readonly sent: readonly Sent[];
  /** the limit and the calls in flight after each call was sent */
  readonly trace: readonly { readonly at: number; readonly limit: number; readonly inFlight: number }[];
  /** the most calls in flight at once */
  readonly maxInFlight: number;
  /** calls that reached the upstream while the breaker was closed, before it first opened */
  readonly reachedBeforeOpen: number;
}

interface Running {
  readonly endsAt: number;
  readonly startedAt: number;
  readonly end: CallEnd;
  readonly ticket: Ticket | undefined;
}

/**
 * Drives a limiter (and optionally a breaker before it) with an open-loop load on a fake clock: a
 * small discrete-event simulation, no timers. Calls end in time order; the clock moves to each.
 */
export function runLoad(limiter: ConcurrencyLimiter, clock: FakeClock, load: Load): LoadResult {
  const origin = clock.now();
  const gapMs = 1000 / load.ratePerSecond;
  const running: Running[] = [];
  const sent: Sent[] = [];
  const trace: { at: number; limit: number; inFlight: number }[] = [];
  let maxInFlight = 0;
  let reachedBeforeOpen = 0;
  let opened = false;
  load.breaker?.onTransition((t) => {
    if (t.to === 'open') opened = true;
  });
  const moveTo = (time: number): void => {
    clock.advance(time - clock.now());
  };
  const finishUntil = (time: number): void => {
    for (;;) {
      const next = running[0];
      if (next === undefined || next.endsAt > time) return;
      running.shift();
      moveTo(next.endsAt);
      limiter.release(next.endsAt - next.startedAt, next.end);
      if (next.ticket !== undefined) load.breaker?.record(next.ticket, next.end === 'success' ? { ok: true } : { ok: false, reason: next.end });
    }
  };
  for (let i = 0; i * gapMs < load.durationMs; i++) {
    const at = origin + i * gapMs;
    finishUntil(at);
    moveTo(at);
    let ticket: Ticket | undefined;
    if (load.breaker !== undefined) {
      const admission = load.breaker.tryAcquire();
      if (!admission.admitted) {
        sent.push({ at: at - origin, outcome: 'circuit_open' });
        continue;
      }
      ticket = admission.ticket;
    }
    if (!limiter.tryAcquire()) {
      if (ticket !== undefined) load.breaker?.release(ticket);
      sent.push({ at: at - origin, outcome: 'overloaded' });
      trace.push({ at: at - origin, limit: limiter.limit, inFlight: limiter.inFlight });
      continue;
    }
    if (!opened) reachedBeforeOpen += 1;
    sent.push({ at: at - origin, outcome: 'admitted' });
    const answer = load.upstream(at - origin);
    const timedOut = load.timeoutMs !== undefined && !(answer.latencyMs < load.timeoutMs);
    const latencyMs = timedOut ? (load.timeoutMs as number) : answer.latencyMs;
    if (latencyMs !== Infinity) {
      const call: Running = { endsAt: at + latencyMs, startedAt: at, end: timedOut ? 'timeout' : answer.fails ? 'failure' : 'success', ticket };
      const index = running.findIndex((other) => other.endsAt > call.endsAt);
      running.splice(index === -1 ? running.length : index, 0, call);
    }
    maxInFlight = Math.max(maxInFlight, limiter.inFlight);
    trace.push({ at: at - origin, limit: limiter.limit, inFlight: limiter.inFlight });
  }
  finishUntil(origin + load.durationMs);
  moveTo(origin + load.durationMs);
  return { sent, trace, maxInFlight, reachedBeforeOpen };
}

/** Share of the calls sent in [fromMs, toMs) that the limiter turned away. */
export function overloadedShare(result: LoadResult, fromMs: number, toMs = Infinity): number {
  const window = result.sent.filter((call) => call.at >= fromMs && call.at < toMs);
  return window.filter((call) => call.outcome === 'overloaded').length / window.length;
}

/** The limit at the last call sent before `atMs`. */
export function limitAt(result: LoadResult, atMs: number): number {
  let limit = NaN;
  for (const point of result.trace) {
    if (point.at >= atMs) break;
    limit = point.limit;
  }
  return limit;
}
