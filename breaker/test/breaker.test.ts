import { BREAKER_DEFAULTS, CircuitBreaker, type BreakerOptions, type Transition } from '../src';
import { acquire, call } from './support/calls';
import { FakeClock } from './support/fake-clock';

const options = { errorThreshold: 3, successThreshold: 2, openWindowMs: 10_000, halfOpenMaxCalls: 1 } satisfies BreakerOptions;
const fail = { ok: false, reason: 'ECONNREFUSED' } as const;
const ok = { ok: true } as const;

function setup(overrides: Partial<BreakerOptions> = {}) {
  const clock = new FakeClock();
  const breaker = new CircuitBreaker({ ...options, ...overrides, clock });
  const transitions: Transition[] = [];
  breaker.onTransition((transition) => transitions.push(transition));
  return { clock, breaker, transitions };
}

function openIt(breaker: CircuitBreaker) {
  for (let i = 0; i < options.errorThreshold; i += 1) call(breaker, fail);
  expect(breaker.state).toBe('open');
}

describe('closed', () => {
  it('starts closed and lets calls pass', () => {
    const { breaker } = setup();
    expect(breaker.state).toBe('closed');
    expect(breaker.tryAcquire().admitted).toBe(true);
  });

  it('opens after ERROR_THRESHOLD consecutive failures, with one transition event', () => {
    const { breaker, transitions } = setup();
    call(breaker, fail);
    call(breaker, fail);
    expect(breaker.state).toBe('closed');
    call(breaker, fail);
    expect(breaker.state).toBe('open');
    expect(transitions).toEqual([
      { from: 'closed', to: 'open', at: 1_000, cause: { kind: 'failures', failures: 3, lastReason: 'ECONNREFUSED' }, openForMs: 10_000 },
    ]);
  });

  it('a success resets the failure count', () => {
    const { breaker } = setup();
    call(breaker, fail);
    call(breaker, fail);
    call(breaker, ok);
    call(breaker, fail);
    call(breaker, fail);
    expect(breaker.state).toBe('closed');
    expect(breaker.snapshot().consecutiveFailures).toBe(2);
  });

  it('opens on the first failure when ERROR_THRESHOLD is 1', () => {
    const { breaker } = setup({ errorThreshold: 1 });
    call(breaker, fail);
    expect(breaker.state).toBe('open');
  });
});

describe('open', () => {
  it('rejects calls at once with the time left until the trial', () => {
    const { breaker, clock } = setup();
    openIt(breaker);
    clock.advance(2_500);
    expect(breaker.tryAcquire()).toEqual({ admitted: false, state: 'open', retryAfterMs: 7_500 });
  });

  it('stays open until TIME_WINDOW has passed on the monotonic clock', () => {
    const { breaker, clock } = setup();
    openIt(breaker);
    clock.advance(9_999);
    expect(breaker.state).toBe('open');
    expect(breaker.msUntilTrial()).toBe(1);
  });

  it('moves to half_open when the window ends, without waiting for a call', () => {
    const { breaker, clock, transitions } = setup();
    openIt(breaker);
    clock.advance(10_000);
    breaker.advance();
    expect(transitions.map((t) => `${t.from}->${t.to}`)).toEqual(['closed->open', 'open->half_open']);
    expect(transitions[1]).toMatchObject({ at: 11_000, cause: { kind: 'window_elapsed' } });
  });

  it('emits exactly one event for the window ending, however often it is asked', () => {
    const { breaker, clock, transitions } = setup();
    openIt(breaker);
    clock.advance(20_000);
    breaker.advance();
    breaker.advance();
    void breaker.state;
    breaker.snapshot();
    expect(transitions).toHaveLength(2);
  });
});

describe('half_open', () => {
  function halfOpen(overrides: Partial<BreakerOptions> = {}) {
    const context = setup(overrides);
    openIt(context.breaker);
    context.clock.advance(10_000);
    expect(context.breaker.state).toBe('half_open');
    return context;
  }

  it('admits HALF_OPEN_MAX_CALLS trials and rejects the extras at once', () => {
    const { breaker } = halfOpen({ halfOpenMaxCalls: 2 });
    const first = breaker.tryAcquire();
    const second = breaker.tryAcquire();
    const third = breaker.tryAcquire();
    expect(first).toMatchObject({ admitted: true, ticket: { trial: true } });
    expect(second).toMatchObject({ admitted: true, ticket: { trial: true } });
    expect(third).toEqual({ admitted: false, state: 'half_open', retryAfterMs: 0 });
  });

  it('frees a trial slot when a trial ends', () => {
    const { breaker } = halfOpen();
    breaker.record(acquire(breaker), ok);
    expect(breaker.tryAcquire().admitted).toBe(true);
  });

  it('frees a trial slot when a trial is released without an outcome', () => {
    const { breaker } = halfOpen();
    breaker.release(acquire(breaker));
    expect(breaker.state).toBe('half_open');
    expect(breaker.tryAcquire().admitted).toBe(true);
  });

  it('closes after SUCCESS_THRESHOLD consecutive trial successes', () => {
    const { breaker, transitions } = halfOpen();
    call(breaker, ok);
    expect(breaker.state).toBe('half_open');
    call(breaker, ok);
    expect(breaker.state).toBe('closed');
    expect(transitions.at(-1)).toMatchObject({ from: 'half_open', to: 'closed', cause: { kind: 'trials_succeeded', successes: 2 } });
  });

  it('reopens on any trial failure, for a fresh TIME_WINDOW', () => {
    const { breaker, clock, transitions } = halfOpen();
    call(breaker, ok);
    clock.advance(500);
    call(breaker, fail);
    expect(breaker.state).toBe('open');
    expect(transitions.at(-1)).toMatchObject({ from: 'half_open', to: 'open', at: 11_500, cause: { kind: 'trial_failed', lastReason: 'ECONNREFUSED' } });
    clock.advance(9_999);
    expect(breaker.state).toBe('open');
    clock.advance(1);
    expect(breaker.state).toBe('half_open');
  });
});

describe('counters and late results', () => {
  it('every transition resets the counters', () => {
    const { breaker, clock } = setup();
    openIt(breaker);
    expect(breaker.snapshot()).toMatchObject({ consecutiveFailures: 0, consecutiveSuccesses: 0, trialsInFlight: 0 });
    clock.advance(10_000);
    call(breaker, ok);
    call(breaker, ok);
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', consecutiveFailures: 0, consecutiveSuccesses: 0 });
    call(breaker, fail);
    call(breaker, fail);
    expect(breaker.state).toBe('closed');
  });

  it('a late success does not close an open circuit', () => {
    const { breaker, transitions } = setup();
    const slow = acquire(breaker);
    openIt(breaker);
    expect(breaker.record(slow, ok)).toBe('late');
    expect(breaker.state).toBe('open');
    expect(transitions).toHaveLength(1);
  });

  it('a late failure does not re-open or extend an open circuit', () => {
    const { breaker, clock } = setup();
    const slow = acquire(breaker);
    openIt(breaker);
    clock.advance(9_000);
    expect(breaker.record(slow, fail)).toBe('late');
    expect(breaker.msUntilTrial()).toBe(1_000);
  });

  it('a trial that ends after its half_open state has ended changes nothing', () => {
    const { breaker, clock } = setup({ halfOpenMaxCalls: 2 });
    openIt(breaker);
    clock.advance(10_000);
    const slow = acquire(breaker);
    call(breaker, fail);
    expect(breaker.state).toBe('open');
    expect(breaker.record(slow, ok)).toBe('late');
    breaker.release(slow);
    expect(breaker.state).toBe('open');
    expect(breaker.snapshot().trialsInFlight).toBe(0);
  });

  it('a late result from closed does not count in a later closed state', () => {
    const { breaker, clock } = setup();
    const fromFirstClosed = acquire(breaker);
    openIt(breaker);
    clock.advance(10_000);
    call(breaker, ok);
    call(breaker, ok);
    call(breaker, fail);
    call(breaker, fail);
    expect(breaker.record(fromFirstClosed, fail)).toBe('late');
    expect(breaker.state).toBe('closed');
  });
});

describe('tickets', () => {
  it('count once: a second record or release of the same ticket changes nothing', () => {
    const { breaker, clock } = setup({ halfOpenMaxCalls: 1 });
    openIt(breaker);
    clock.advance(10_000);
    const trial = acquire(breaker);
    breaker.release(trial);
    breaker.release(trial);
    expect(breaker.snapshot().trialsInFlight).toBe(0);
    acquire(breaker);
    expect(breaker.tryAcquire().admitted).toBe(false);
    const closedSetup = setup();
    const ticket = acquire(closedSetup.breaker);
    expect(closedSetup.breaker.record(ticket, fail)).toBe('counted');
    expect(closedSetup.breaker.record(ticket, fail)).toBe('late');
    expect(closedSetup.breaker.snapshot().consecutiveFailures).toBe(1);
  });

  it('calls in flight: each admitted call until its record or release; calls from an ended state are not counted', () => {
    const { breaker, clock } = setup({ halfOpenMaxCalls: 2 });
    const first = acquire(breaker);
    const second = acquire(breaker);
    expect(breaker.callsInFlight).toBe(2);
    breaker.record(first, ok);
    breaker.record(first, ok);
    expect(breaker.callsInFlight).toBe(1);
    breaker.release(second);
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', callsInFlight: 0, trialsInFlight: 0 });
    acquire(breaker);
    openIt(breaker);
    expect(breaker.snapshot()).toMatchObject({ state: 'open', callsInFlight: 0 });
    clock.advance(10_000);
    acquire(breaker);
    expect(breaker.snapshot()).toMatchObject({ state: 'half_open', callsInFlight: 1, trialsInFlight: 1 });
  });

  it('a ticket the breaker did not issue is ignored', () => {
    const { breaker } = setup();
    expect(breaker.record({ epoch: 0, trial: false }, fail)).toBe('late');
    expect(breaker.snapshot().consecutiveFailures).toBe(0);
  });
});

describe('listeners and options', () => {
  it('stops notifying a listener that unsubscribed', () => {
    const { breaker } = setup();
    const seen: string[] = [];
    const unsubscribe = breaker.onTransition((t) => seen.push(t.to));
    unsubscribe();
    openIt(breaker);
    expect(seen).toEqual([]);
  });

  it.each([
    [{ errorThreshold: 0 }, /errorThreshold/],
    [{ successThreshold: 1.5 }, /successThreshold/],
    [{ halfOpenMaxCalls: -1 }, /halfOpenMaxCalls/],
    [{ openWindowMs: 0 }, /openWindowMs/],
  ])('rejects bad options %p', (bad, message) => {
    expect(() => new CircuitBreaker({ ...options, ...bad, clock: new FakeClock() })).toThrow(message);
  });
});

describe('defaults', () => {
  it('builds from options alone: the SPEC defaults and the monotonic clock', () => {
    const breaker = new CircuitBreaker();
    for (let i = 0; i < BREAKER_DEFAULTS.errorThreshold - 1; i += 1) call(breaker, fail);
    expect(breaker.state).toBe('closed');
    call(breaker, fail);
    const rejection = breaker.tryAcquire();
    expect(rejection).toMatchObject({ admitted: false, state: 'open' });
    // the real clock: a 10 s window has barely started
    expect(!rejection.admitted && rejection.retryAfterMs).toBeGreaterThan(BREAKER_DEFAULTS.openWindowMs - 1_000);
  });
});

describe('isolate and reset (manual control)', () => {
  it('isolate holds the circuit open: every call rejected, no window runs out, no trial', () => {
    const { breaker, clock, transitions } = setup();
    expect(breaker.isolate()).toBe(true);
    expect(transitions).toEqual([{ from: 'closed', to: 'isolated', at: 1_000, cause: { kind: 'manual' } }]);
    clock.advance(options.openWindowMs * 100);
    expect(breaker.tryAcquire()).toEqual({ admitted: false, state: 'isolated', retryAfterMs: undefined });
    expect(breaker.state).toBe('isolated');
    expect(breaker.snapshot().msUntilTrial).toBe(0);
  });

  it('isolating an isolated circuit changes nothing', () => {
    const { breaker, transitions } = setup();
    breaker.isolate();
    expect(breaker.isolate()).toBe(false);
    expect(transitions).toHaveLength(1);
  });

  it('reset closes an isolated circuit with fresh counters', () => {
    const { breaker, clock, transitions } = setup();
    breaker.isolate();
    clock.advance(5);
    expect(breaker.reset()).toBe(true);
    expect(transitions.at(-1)).toEqual({ from: 'isolated', to: 'closed', at: 1_005, cause: { kind: 'manual' } });
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', since: 1_005, consecutiveFailures: 0, trialsInFlight: 0 });
    expect(breaker.tryAcquire().admitted).toBe(true);
  });

  it('reset closes an open circuit before its window ends', () => {
    const { breaker, transitions } = setup();
    openIt(breaker);
    expect(breaker.reset()).toBe(true);
    expect(transitions.map((t) => `${t.from}->${t.to}`)).toEqual(['closed->open', 'open->closed']);
  });

  it('reset of a closed circuit clears its failures without a transition', () => {
    const { breaker, transitions } = setup();
    call(breaker, fail);
    call(breaker, fail);
    expect(breaker.reset()).toBe(false);
    expect(transitions).toEqual([]);
    call(breaker, fail);
    expect(breaker.state).toBe('closed');
  });

  it('isolate while half_open with trials in flight: their results are late', () => {
    const { breaker, clock } = setup({ halfOpenMaxCalls: 2 });
    openIt(breaker);
    clock.advance(options.openWindowMs);
    const trials = [acquire(breaker), acquire(breaker)];
    breaker.isolate();
    expect(breaker.record(trials[0]!, ok)).toBe('late');
    expect(breaker.record(trials[1]!, fail)).toBe('late');
    expect(breaker.snapshot()).toMatchObject({ state: 'isolated', trialsInFlight: 0 });
  });

  it('a call admitted before reset is late after it', () => {
    const { breaker } = setup();
    const ticket = acquire(breaker);
    breaker.isolate();
    breaker.reset();
    expect(breaker.record(ticket, fail)).toBe('late');
    expect(breaker.snapshot().consecutiveFailures).toBe(0);
  });
});

describe('call events', () => {
  it('tells success and failure before the transition they cause, and late and rejected calls', () => {
    const { breaker, clock } = setup({ errorThreshold: 2 });
    const seen: string[] = [];
    breaker.on('success', (e) => seen.push(`success trial=${e.trial} at ${e.at}`));
    breaker.on('failure', (e) => seen.push(`failure ${e.reason} trial=${e.trial}`));
    breaker.on('transition', (t) => seen.push(`${t.from}->${t.to}`));
    breaker.on('rejected', (r) => seen.push(`rejected ${r.state} ${r.retryAfterMs}`));
    breaker.on('late', (e) => seen.push(`late ok=${e.outcome.ok}`));
    const early = acquire(breaker);
    call(breaker, ok);
    call(breaker, fail);
    call(breaker, fail);
    breaker.record(early, ok);
    clock.advance(4_000);
    breaker.tryAcquire();
    expect(seen).toEqual([
      'success trial=false at 1000',
      'failure ECONNREFUSED trial=false',
      'failure ECONNREFUSED trial=false',
      'closed->open',
      'late ok=true',
      'rejected open 6000',
    ]);
  });

  it('a listener that unsubscribes while being told does not stop the others', () => {
    const { breaker } = setup();
    const seen: string[] = [];
    const first = breaker.on('failure', () => {
      seen.push('first');
      first();
    });
    breaker.on('failure', () => seen.push('second'));
    call(breaker, fail);
    call(breaker, fail);
    expect(seen).toEqual(['first', 'second', 'second']);
  });
});
