/**
 * Model-based property test: random sequences of calls, results, releases and time, run against
 * the breaker and against a small reference model written straight from SPEC "The breaker".
 * What a caller sees (admissions, record results, isolate/reset results, and every event: transitions, successes,
 * failures, late results, rejections) is compared at every step;
 * the full snapshot only at explicit `look` steps, because taking a snapshot moves an ended
 * window to half_open itself, and doing it after every step would hide tryAcquire's own move.
 * The policies are in it too: the failure rate over a count or a time window (the model keeps
 * every call with its time and works the window out from them; the breaker keeps bucket counts),
 * slow calls, backoff with jitter (the same random numbers for both), the upstream's Retry-After.
 */
import fc from 'fast-check';
import { CircuitBreaker, type BreakerOptions, type BreakerSnapshot, type Outcome, type State, type Ticket, type Transition } from '../src';
import { FakeClock } from './support/fake-clock';

type RateSettings = { threshold: number; minimumCalls: number; window: { calls: number } | { timeMs: number; buckets: number } };

interface Settings {
  errorThreshold: number;
  successThreshold: number;
  windowMs: number;
  maxTrials: number;
  /** TIME_WINDOW_MAX: equal to windowMs in about half the runs (no backoff) */
  maxWindowMs: number;
  jitter: number;
  rate: RateSettings | undefined;
  slowMs: number | undefined;
  honorRetryAfter: boolean;
}

/** A call the model admitted: its state's generation, whether it is a trial, and when it started. */
interface ModelCall {
  generation: number;
  trial: boolean;
  startedAt: number;
}

/** The SPEC, as plainly as it can be written. */
class Model {
  state: State = 'closed';
  generation = 0;
  /** clock time the current state began */
  since: number;
  failures = 0;
  successes = 0;
  trials = 0;
  /** admitted calls of this generation not finished or given back yet */
  calls = 0;
  /** "a trial failure reopens the circuit for twice the previous window": trial failures since the last close */
  reopenings = 0;
  /** the current open window */
  openMs: number;
  /** the calls counted while closed since the last transition, with their times: the rate's window is worked out from these */
  history: { at: number; failed: boolean }[] = [];
  lastFailure = '';
  readonly changes: string[] = [];

  constructor(
    private readonly s: Settings,
    private now: () => number,
    private readonly random: () => number,
  ) {
    this.since = now();
    this.openMs = s.windowMs;
  }

  private goTo(state: State, cause: string, retryAfterMs?: number): void {
    const open = state === 'open' ? ` for ${this.openMs}${retryAfterMs === undefined ? '' : ` (retry-after ${retryAfterMs})`}` : '';
    this.changes.push(`${this.state}->${state} at ${this.now()} ${cause}${open}`);
    this.state = state;
    this.since = this.now();
    this.generation += 1;
    this.failures = 0;
    this.successes = 0;
    this.trials = 0;
    this.calls = 0;
    this.history = [];
    if (state === 'closed') this.reopenings = 0;
  }

  /** "twice the previous window, up to TIME_WINDOW_MAX, with a little jitter"; a Retry-After makes it at least that long, up to an hour. */
  private open(cause: string, retryAfterMs: number | undefined): void {
    this.reopenings = this.state === 'half_open' ? this.reopenings + 1 : 0;
    const grown = Math.min(this.s.maxWindowMs, this.s.windowMs * 2 ** this.reopenings);
    const own = grown > this.s.windowMs && this.s.jitter > 0 ? Math.max(this.s.windowMs, grown - grown * this.s.jitter * this.random()) : grown;
    const asked = this.s.honorRetryAfter && retryAfterMs !== undefined ? Math.min(retryAfterMs, 3_600_000) : 0;
    this.openMs = Math.max(own, asked);
    this.goTo('open', cause, asked > own ? this.openMs : undefined);
  }

  /** The rate's window now: the last N counted calls, or those whose bucket is one of the last B. */
  windowCounts(): { calls: number; failures: number } | undefined {
    const rate = this.s.rate;
    if (rate === undefined) return undefined;
    let inWindow: { failed: boolean }[];
    if ('calls' in rate.window) {
      inWindow = this.history.slice(-rate.window.calls);
    } else {
      const { timeMs, buckets } = rate.window;
      const bucket = (t: number) => Math.floor(t / (timeMs / buckets));
      inWindow = this.history.filter((call) => bucket(this.now()) - bucket(call.at) < buckets);
    }
    return { calls: inWindow.length, failures: inWindow.filter((call) => call.failed).length };
  }

  /**
   * "When the window ends the circuit moves to half_open without waiting for traffic." The breaker
   * has no timers, so the move happens the first time anyone asks: that is when half_open begins.
   */
  look(): State {
    if (this.state === 'open' && this.now() >= this.since + this.openMs) this.goTo('half_open', 'window_elapsed');
    return this.state;
  }

  ask(): ModelCall | 'rejected' {
    const state = this.look();
    if (state === 'closed') {
      this.calls += 1;
      return { generation: this.generation, trial: false, startedAt: this.now() };
    }
    if (state === 'half_open' && this.trials < this.s.maxTrials) {
      this.trials += 1;
      this.calls += 1;
      return { generation: this.generation, trial: true, startedAt: this.now() };
    }
    this.changes.push(`rejected ${state}`);
    return 'rejected';
  }

  /** "isolate() holds the circuit open (state isolated: every call rejected, no trials) until reset()" */
  isolate(): boolean {
    if (this.state === 'isolated') return false;
    this.goTo('isolated', 'manual');
    return true;
  }

  /** "reset(), which closes it with fresh counters" */
  reset(): boolean {
    if (this.state === 'closed') {
      this.failures = 0;
      this.history = [];
      return false;
    }
    this.goTo('closed', 'manual');
    return true;
  }

  finish(call: ModelCall, result: ResultStep): 'counted' | 'late' {
    if (call.generation !== this.generation) {
      this.changes.push(`late ${result.ok}`);
      return 'late';
    }
    this.calls -= 1;
    // "an answer that took longer counts as a failure with the reason slow: <ms> ms"
    const duration = result.durationMs ?? this.now() - call.startedAt;
    const slow = result.ok && this.s.slowMs !== undefined && duration > this.s.slowMs;
    const ok = result.ok && !slow;
    const reason = slow ? `slow: ${Math.round(duration)} ms` : 'x';
    const retryAfterMs = result.ok ? undefined : result.retryAfterMs;
    this.changes.push(ok ? 'success' : `failure ${reason}`);
    if (this.state === 'closed') {
      this.failures = ok ? 0 : this.failures + 1;
      if (!ok) this.lastFailure = reason;
      this.history.push({ at: this.now(), failed: !ok });
      if (this.failures === this.s.errorThreshold) {
        this.open(`failures ${this.failures} ${reason}`, retryAfterMs);
        return 'counted';
      }
      const counts = this.windowCounts();
      const rate = this.s.rate;
      if (counts && rate && counts.calls >= rate.minimumCalls && counts.failures / counts.calls >= rate.threshold / 100) {
        this.open(`failure_rate ${counts.failures}/${counts.calls} ${this.lastFailure}`, retryAfterMs);
      }
    } else {
      this.trials -= 1;
      if (!ok) this.open(`trial_failed ${reason}`, retryAfterMs);
      else if (++this.successes === this.s.successThreshold) this.goTo('closed', 'trials_succeeded');
    }
    return 'counted';
  }

  giveBack(call: ModelCall): void {
    if (call.generation !== this.generation) return;
    this.calls -= 1;
    if (call.trial) this.trials -= 1;
  }

  msUntilTrial(): number {
    return this.state === 'open' ? Math.max(0, this.since + this.openMs - this.now()) : 0;
  }

  snapshot(): BreakerSnapshot {
    this.look();
    const next = this.state === 'half_open' ? this.reopenings + 1 : 0;
    return {
      state: this.state,
      since: this.since,
      consecutiveFailures: this.failures,
      consecutiveSuccesses: this.successes,
      trialsInFlight: this.trials,
      callsInFlight: this.calls,
      msUntilTrial: this.msUntilTrial(),
      openWindowMs: this.state === 'open' ? this.openMs : Math.min(this.s.maxWindowMs, this.s.windowMs * 2 ** next),
      window: this.windowCounts(),
    };
  }
}

/** How a call ends: `durationMs` as the caller reports it (else measured on the clock), `retryAfterMs` on failures. */
interface ResultStep {
  kind: 'result';
  pick: number;
  ok: boolean;
  durationMs: number | undefined;
  retryAfterMs: number | undefined;
}

type Step =
  | { kind: 'acquire' }
  | ResultStep
  | { kind: 'release'; pick: number }
  | { kind: 'time'; ms: number }
  | { kind: 'look' }
  | { kind: 'isolate' }
  | { kind: 'reset' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.constant<Step>({ kind: 'acquire' }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('result' as const),
      pick: fc.nat(),
      ok: fc.boolean(),
      durationMs: fc.option(fc.integer({ min: 0, max: 400 }), { nil: undefined }),
      retryAfterMs: fc.option(fc.oneof(fc.integer({ min: 1, max: 5_000 }), fc.constant(7_200_000)), { nil: undefined, freq: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  // short steps cross bucket boundaries one at a time, long ones empty whole windows
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('time' as const), ms: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 3_000 })) }) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'look' }) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'isolate' }) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'reset' }) },
);

const rate: fc.Arbitrary<RateSettings> = fc.record({
  threshold: fc.integer({ min: 1, max: 100 }),
  minimumCalls: fc.integer({ min: 1, max: 8 }),
  window: fc.oneof(
    fc.record({ calls: fc.integer({ min: 1, max: 12 }) }),
    fc.record({ timeMs: fc.integer({ min: 10, max: 2_000 }), buckets: fc.integer({ min: 1, max: 10 }) }),
  ),
});

const settings: fc.Arbitrary<Settings> = fc
  .record({
    errorThreshold: fc.integer({ min: 1, max: 6 }),
    successThreshold: fc.integer({ min: 1, max: 3 }),
    windowMs: fc.integer({ min: 1, max: 2_000 }),
    maxTrials: fc.integer({ min: 1, max: 3 }),
    growth: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 20 })),
    jitter: fc.constantFrom(0, 0.1, 0.5),
    rate: fc.option(rate, { nil: undefined, freq: 3 }),
    slowMs: fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined, freq: 2 }),
    honorRetryAfter: fc.boolean(),
  })
  .map(({ growth, ...rest }) => ({ ...rest, maxWindowMs: rest.windowMs * growth }));

function optionsOf(s: Settings, clock: FakeClock, random: () => number): BreakerOptions {
  return {
    errorThreshold: s.errorThreshold,
    successThreshold: s.successThreshold,
    openWindowMs: s.windowMs,
    halfOpenMaxCalls: s.maxTrials,
    maxOpenWindowMs: s.maxWindowMs,
    jitter: s.jitter,
    random,
    honorRetryAfter: s.honorRetryAfter,
    clock,
    ...(s.slowMs === undefined ? {} : { slowCallThresholdMs: s.slowMs }),
    ...(s.rate === undefined ? {} : { failureRateThreshold: s.rate.threshold, minimumCalls: s.rate.minimumCalls, slidingWindow: s.rate.window }),
  };
}

/** The same random numbers, in the same order, for the breaker and for the model. */
function randomSource(values: readonly number[]): () => number {
  let next = 0;
  return () => values[next++ % values.length]!;
}

/** A transition in the model's words. */
function describeTransition(t: Transition): string {
  const cause =
    t.cause.kind === 'failures'
      ? `failures ${t.cause.failures} ${t.cause.lastReason}`
      : t.cause.kind === 'failure_rate'
        ? `failure_rate ${t.cause.failures}/${t.cause.calls} ${t.cause.lastReason}`
        : t.cause.kind === 'trial_failed'
          ? `trial_failed ${t.cause.lastReason}`
          : t.cause.kind;
  const open = t.to === 'open' ? ` for ${t.openForMs}${t.retryAfterMs === undefined ? '' : ` (retry-after ${t.retryAfterMs})`}` : '';
  return `${t.from}->${t.to} at ${t.at} ${cause}${open}`;
}

it('behaves like the SPEC model over thousands of random steps, with every trip and recovery policy', () => {
  let stepsRun = 0;
  let looks = 0;
  const seenCauses = new Set<string>();
  fc.assert(
    fc.property(
      settings,
      fc.nat(1_000_000),
      fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 8 }),
      fc.array(step, { minLength: 20, maxLength: 300, size: 'max' }),
      (s, start, randoms, steps) => {
        const clock = new FakeClock(start);
        const breaker = new CircuitBreaker(optionsOf(s, clock, randomSource(randoms)));
        const model = new Model(s, () => clock.now(), randomSource(randoms));
        const seen: string[] = [];
        breaker.onTransition((t) => {
          seenCauses.add(t.retryAfterMs === undefined ? t.cause.kind : `${t.cause.kind} with retry-after`);
          seen.push(describeTransition(t));
        });
        breaker.on('success', () => seen.push('success'));
        breaker.on('failure', (e) => seen.push(`failure ${e.reason}`));
        breaker.on('late', (e) => seen.push(`late ${e.outcome.ok}`));
        breaker.on('rejected', (r) => seen.push(`rejected ${r.state}`));
        const outstanding: { real: Ticket; model: ModelCall }[] = [];

        for (const current of steps) {
          stepsRun += 1;
          switch (current.kind) {
            case 'acquire': {
              const real = breaker.tryAcquire();
              const expected = model.ask();
              if (expected === 'rejected') {
                expect(real).toEqual({ admitted: false, state: model.state, retryAfterMs: model.state === 'isolated' ? undefined : model.msUntilTrial() });
              } else {
                expect(real).toEqual({ admitted: true, ticket: expect.objectContaining({ trial: expected.trial }) });
                if (real.admitted) outstanding.push({ real: real.ticket, model: expected });
              }
              break;
            }
            case 'result':
            case 'release': {
              if (outstanding.length === 0) break;
              const [call] = outstanding.splice(current.pick % outstanding.length, 1);
              if (!call) break;
              if (current.kind === 'release') {
                breaker.release(call.real);
                model.giveBack(call.model);
              } else {
                const duration = current.durationMs === undefined ? {} : { durationMs: current.durationMs };
                const outcome: Outcome = current.ok
                  ? { ok: true, ...duration }
                  : { ok: false, reason: 'x', ...duration, ...(current.retryAfterMs === undefined ? {} : { retryAfterMs: current.retryAfterMs }) };
                expect(breaker.record(call.real, outcome)).toBe(model.finish(call.model, current));
              }
              break;
            }
            case 'time':
              clock.advance(current.ms);
              break;
            case 'isolate':
              expect(breaker.isolate()).toBe(model.isolate());
              break;
            case 'reset':
              expect(breaker.reset()).toBe(model.reset());
              break;
            case 'look':
              looks += 1;
              expect(breaker.snapshot()).toEqual(model.snapshot());
              break;
          }
          expect(seen).toEqual(model.changes);
        }
      },
    ),
    { numRuns: 150 },
  );
  expect(stepsRun).toBeGreaterThan(10_000);
  expect(looks).toBeGreaterThan(300);
  // every way of opening was exercised, not only the consecutive trip
  for (const cause of ['failures', 'failure_rate', 'trial_failed', 'failures with retry-after', 'trial_failed with retry-after', 'manual']) {
    expect(seenCauses).toContain(cause);
  }
});
