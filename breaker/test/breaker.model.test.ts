/**
 * Model-based property test: random sequences of calls, results, releases and time, run against
 * the breaker and against a small reference model written straight from SPEC "The breaker".
 * What a caller sees (admissions, record results, isolate/reset results, and every event: transitions, successes,
 * failures, late results, rejections) is compared at every step;
 * the full snapshot only at explicit `look` steps, because taking a snapshot moves an ended
 * window to half_open itself, and doing it after every step would hide tryAcquire's own move.
 */
import fc from 'fast-check';
import { CircuitBreaker, type BreakerSnapshot, type State, type Ticket } from '../src';
import { FakeClock } from './support/fake-clock';

interface Settings {
  errorThreshold: number;
  successThreshold: number;
  windowMs: number;
  maxTrials: number;
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
  readonly changes: string[] = [];

  constructor(
    private readonly s: Settings,
    private now: () => number,
  ) {
    this.since = now();
  }

  private goTo(state: State): void {
    this.changes.push(`${this.state}->${state} at ${this.now()}`);
    this.state = state;
    this.since = this.now();
    this.generation += 1;
    this.failures = 0;
    this.successes = 0;
    this.trials = 0;
  }

  /**
   * "When the window ends the circuit moves to half_open without waiting for traffic." The breaker
   * has no timers, so the move happens the first time anyone asks: that is when half_open begins.
   */
  look(): State {
    if (this.state === 'open' && this.now() >= this.since + this.s.windowMs) this.goTo('half_open');
    return this.state;
  }

  ask(): { generation: number; trial: boolean } | 'rejected' {
    const state = this.look();
    if (state === 'closed') return { generation: this.generation, trial: false };
    if (state === 'half_open' && this.trials < this.s.maxTrials) {
      this.trials += 1;
      return { generation: this.generation, trial: true };
    }
    this.changes.push(`rejected ${state}`);
    return 'rejected';
  }

  /** "isolate() holds the circuit open (state isolated: every call rejected, no trials) until reset()" */
  isolate(): boolean {
    if (this.state === 'isolated') return false;
    this.goTo('isolated');
    return true;
  }

  /** "reset(), which closes it with fresh counters" */
  reset(): boolean {
    if (this.state === 'closed') {
      this.failures = 0;
      return false;
    }
    this.goTo('closed');
    return true;
  }

  finish(generation: number, ok: boolean): 'counted' | 'late' {
    if (generation !== this.generation) {
      this.changes.push(`late ${ok}`);
      return 'late';
    }
    this.changes.push(ok ? 'success' : 'failure');
    if (this.state === 'closed') {
      this.failures = ok ? 0 : this.failures + 1;
      if (this.failures === this.s.errorThreshold) this.goTo('open');
    } else {
      this.trials -= 1;
      if (!ok) this.goTo('open');
      else if (++this.successes === this.s.successThreshold) this.goTo('closed');
    }
    return 'counted';
  }

  giveBack(generation: number, trial: boolean): void {
    if (generation === this.generation && trial) this.trials -= 1;
  }

  msUntilTrial(): number {
    return this.state === 'open' ? Math.max(0, this.since + this.s.windowMs - this.now()) : 0;
  }

  snapshot(): BreakerSnapshot {
    this.look();
    return {
      state: this.state,
      since: this.since,
      consecutiveFailures: this.failures,
      consecutiveSuccesses: this.successes,
      trialsInFlight: this.trials,
      msUntilTrial: this.msUntilTrial(),
    };
  }
}

type Step =
  | { kind: 'acquire' }
  | { kind: 'result'; pick: number; ok: boolean }
  | { kind: 'release'; pick: number }
  | { kind: 'time'; ms: number }
  | { kind: 'look' }
  | { kind: 'isolate' }
  | { kind: 'reset' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Step>({ kind: 'acquire' }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('result' as const), pick: fc.nat(), ok: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('time' as const), ms: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 3_000 })) }) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'look' }) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'isolate' }) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'reset' }) },
);

const settings: fc.Arbitrary<Settings> = fc.record({
  errorThreshold: fc.integer({ min: 1, max: 4 }),
  successThreshold: fc.integer({ min: 1, max: 3 }),
  windowMs: fc.integer({ min: 1, max: 2_000 }),
  maxTrials: fc.integer({ min: 1, max: 3 }),
});

it('behaves like the SPEC model over thousands of random steps', () => {
  let stepsRun = 0;
  let looks = 0;
  fc.assert(
    fc.property(settings, fc.nat(1_000_000), fc.array(step, { minLength: 20, maxLength: 200, size: 'max' }), (s, start, steps) => {
      const clock = new FakeClock(start);
      const breaker = new CircuitBreaker({
        errorThreshold: s.errorThreshold,
        successThreshold: s.successThreshold,
        openWindowMs: s.windowMs,
        halfOpenMaxCalls: s.maxTrials,
        clock,
      });
      const model = new Model(s, () => clock.now());
      const seen: string[] = [];
      breaker.onTransition((t) => seen.push(`${t.from}->${t.to} at ${t.at}`));
      breaker.on('success', () => seen.push('success'));
      breaker.on('failure', () => seen.push('failure'));
      breaker.on('late', (e) => seen.push(`late ${e.outcome.ok}`));
      breaker.on('rejected', (r) => seen.push(`rejected ${r.state}`));
      const outstanding: { real: Ticket; model: { generation: number; trial: boolean } }[] = [];

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
              model.giveBack(call.model.generation, call.model.trial);
            } else {
              const outcome = current.ok ? { ok: true as const } : { ok: false as const, reason: 'x' };
              expect(breaker.record(call.real, outcome)).toBe(model.finish(call.model.generation, current.ok));
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
    }),
    { numRuns: 100 },
  );
  expect(stepsRun).toBeGreaterThan(5_000);
  expect(looks).toBeGreaterThan(100);
});
