/** Each trip and recovery policy through the breaker itself, with an injected clock and random source. */
import { CircuitBreaker, type BreakerOptions, type Transition } from '../../src';
import { acquire, call } from '../support/calls';
import { FakeClock } from '../support/fake-clock';

const fail = { ok: false, reason: 'HTTP 500' } as const;
const ok = { ok: true } as const;

function setup(options: Partial<BreakerOptions> = {}) {
  const clock = new FakeClock();
  const breaker = new CircuitBreaker({ errorThreshold: 3, successThreshold: 1, openWindowMs: 1_000, halfOpenMaxCalls: 1, clock, ...options });
  const transitions: Transition[] = [];
  breaker.onTransition((transition) => transitions.push(transition));
  return { clock, breaker, transitions };
}


/** F = failure, S = success */
function calls(breaker: CircuitBreaker, pattern: string): void {
  for (const c of pattern) call(breaker, c === 'F' ? fail : ok);
}

describe('failure-rate trip', () => {
  const rate = { errorThreshold: 100, failureRateThreshold: 50, minimumCalls: 10, slidingWindow: { calls: 20 } } as const;

  it('opens at the threshold once the window holds MINIMUM_CALLS, and the cause says it was the rate', () => {
    const { breaker, transitions } = setup(rate);
    calls(breaker, 'SFSFSFSFS');
    expect(breaker.state).toBe('closed'); // 4 of 9: not yet 10 calls
    calls(breaker, 'F');
    expect(transitions).toEqual([
      {
        from: 'closed',
        to: 'open',
        at: 1_000,
        cause: { kind: 'failure_rate', ratePercent: 50, calls: 10, failures: 5, lastReason: 'HTTP 500' },
        openForMs: 1_000,
      },
    ]);
  });

  it('stays closed below the threshold', () => {
    const { breaker } = setup(rate);
    calls(breaker, 'SSFSSFSSFSSFSSFSSFSS'); // 6 of 20
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', window: { calls: 20, failures: 6 } });
  });

  it('the consecutive trip still works beside it: whichever comes first', () => {
    const { breaker, transitions } = setup({ ...rate, errorThreshold: 3 });
    calls(breaker, 'FFF');
    expect(transitions[0]?.cause).toEqual({ kind: 'failures', failures: 3, lastReason: 'HTTP 500' });
  });

  it('over a time window, failures older than the window no longer count', () => {
    const { clock, breaker } = setup({ ...rate, minimumCalls: 4, slidingWindow: { timeMs: 10_000 } });
    calls(breaker, 'FFF');
    clock.advance(10_000); // the first bucket has left the window
    calls(breaker, 'SS');
    calls(breaker, 'F');
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', window: { calls: 3, failures: 1 } });
  });

  it('over a time window, the cause names its length', () => {
    const { breaker, transitions } = setup({ ...rate, minimumCalls: 2, slidingWindow: { timeMs: 60_000 } });
    calls(breaker, 'SF');
    expect(transitions[0]?.cause).toEqual({ kind: 'failure_rate', ratePercent: 50, calls: 2, failures: 1, windowMs: 60_000, lastReason: 'HTTP 500' });
  });

  it('the window is emptied on every transition', () => {
    const { clock, breaker } = setup({ ...rate, minimumCalls: 2, successThreshold: 1 });
    calls(breaker, 'SF');
    expect(breaker.state).toBe('open');
    clock.advance(1_000);
    calls(breaker, 'S'); // the trial closes it
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', window: { calls: 0, failures: 0 } });
  });

  it('without a threshold there is no window', () => {
    const { breaker } = setup();
    calls(breaker, 'FS');
    expect(breaker.snapshot().window).toBeUndefined();
  });
});

describe('slow calls', () => {
  it('a success over the threshold counts as a failure: slow: <ms> ms', () => {
    const { breaker, transitions } = setup({ slowCallThresholdMs: 1_000, errorThreshold: 2 });
    const reasons: string[] = [];
    breaker.on('failure', (event) => reasons.push(event.reason));
    call(breaker, { ok: true, durationMs: 1_800 });
    call(breaker, { ok: true, durationMs: 1_001 });
    expect(reasons).toEqual(['slow: 1800 ms', 'slow: 1001 ms']);
    expect(transitions[0]?.cause).toEqual({ kind: 'failures', failures: 2, lastReason: 'slow: 1001 ms' });
  });

  it('a success at the threshold or under it is a success', () => {
    const { breaker } = setup({ slowCallThresholdMs: 1_000 });
    call(breaker, fail);
    call(breaker, { ok: true, durationMs: 1_000 });
    expect(breaker.snapshot().consecutiveFailures).toBe(0);
  });

  it('without a reported duration, the time since admission on the clock counts', () => {
    const { clock, breaker } = setup({ slowCallThresholdMs: 500 });
    const ticket = acquire(breaker);
    clock.advance(750);
    expect(breaker.judge(ticket, ok)).toEqual({ ok: false, reason: 'slow: 750 ms', durationMs: 750 });
    breaker.record(ticket, ok);
    expect(breaker.snapshot().consecutiveFailures).toBe(1);
  });

  it('a slow trial reopens the circuit', () => {
    const { clock, breaker, transitions } = setup({ slowCallThresholdMs: 100, errorThreshold: 1 });
    call(breaker, fail);
    clock.advance(1_000);
    call(breaker, { ok: true, durationMs: 250 });
    expect(transitions.at(-1)).toMatchObject({ from: 'half_open', to: 'open', cause: { kind: 'trial_failed', lastReason: 'slow: 250 ms' } });
  });
});

describe('backoff', () => {
  /** Opens the circuit, then fails `n` trials in a row; returns the open windows. */
  function reopen(breaker: CircuitBreaker, clock: FakeClock, n: number, transitions: Transition[]): number[] {
    call(breaker, fail);
    for (let i = 0; i < n; i += 1) {
      clock.advance(breaker.snapshot().msUntilTrial);
      call(breaker, fail);
    }
    return transitions.filter((t) => t.to === 'open').map((t) => t.openForMs!);
  }

  it('each reopening without a close doubles the window, up to the cap', () => {
    const { clock, breaker, transitions } = setup({ errorThreshold: 1, maxOpenWindowMs: 8_000, jitter: 0 });
    expect(reopen(breaker, clock, 5, transitions)).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    expect(breaker.snapshot()).toMatchObject({ msUntilTrial: 8_000, openWindowMs: 8_000 });
  });

  it('a close resets it to the first window', () => {
    const { clock, breaker, transitions } = setup({ errorThreshold: 1, maxOpenWindowMs: 8_000, jitter: 0 });
    reopen(breaker, clock, 2, transitions);
    clock.advance(4_000);
    call(breaker, ok);
    expect(breaker.state).toBe('closed');
    call(breaker, fail);
    expect(transitions.at(-1)?.openForMs).toBe(1_000);
  });

  it('with jitter from the random source, a grown window is up to that share shorter', () => {
    const draws = [0.5, 1 - 1e-9];
    const { clock, breaker, transitions } = setup({ errorThreshold: 1, maxOpenWindowMs: 8_000, jitter: 0.1, random: () => draws.shift()! });
    const windows = reopen(breaker, clock, 2, transitions);
    expect(windows[0]).toBe(1_000); // no jitter on the first window, no number drawn
    expect(windows[1]).toBe(1_900);
    expect(windows[2]).toBeCloseTo(3_600, 3);
    expect(draws).toEqual([]);
  });

  it('by default there is no backoff: every reopening gets TIME_WINDOW exactly', () => {
    const { clock, breaker, transitions } = setup({ errorThreshold: 1, random: () => 0.9 });
    expect(reopen(breaker, clock, 3, transitions)).toEqual([1_000, 1_000, 1_000, 1_000]);
  });

  it('the rejection and the snapshot show the time left of the window in force', () => {
    const { clock, breaker, transitions } = setup({ errorThreshold: 1, maxOpenWindowMs: 8_000, jitter: 0 });
    reopen(breaker, clock, 2, transitions);
    clock.advance(1_500);
    expect(breaker.tryAcquire()).toEqual({ admitted: false, state: 'open', retryAfterMs: 2_500 });
  });
});

describe("the upstream's Retry-After", () => {
  it('a failure that opens the circuit with a Retry-After makes the window at least that long', () => {
    const { clock, breaker, transitions } = setup({ errorThreshold: 1 });
    call(breaker, { ok: false, reason: 'HTTP 503', retryAfterMs: 5_000 });
    expect(transitions[0]).toMatchObject({ to: 'open', openForMs: 5_000, retryAfterMs: 5_000 });
    clock.advance(4_999);
    expect(breaker.tryAcquire()).toEqual({ admitted: false, state: 'open', retryAfterMs: 1 });
    clock.advance(1);
    expect(breaker.state).toBe('half_open');
  });

  it('a shorter Retry-After does not shorten the window', () => {
    const { breaker, transitions } = setup({ errorThreshold: 1 });
    call(breaker, { ok: false, reason: 'HTTP 429', retryAfterMs: 200 });
    expect(transitions[0]).toEqual(expect.objectContaining({ openForMs: 1_000 }));
    expect(transitions[0]).not.toHaveProperty('retryAfterMs');
  });

  it('is believed up to one hour', () => {
    const { breaker, transitions } = setup({ errorThreshold: 1 });
    call(breaker, { ok: false, reason: 'HTTP 503', retryAfterMs: 86_400_000 });
    expect(transitions[0]).toMatchObject({ openForMs: 3_600_000, retryAfterMs: 3_600_000 });
  });

  it('only the failure that opens the circuit counts', () => {
    const { breaker, transitions } = setup({ errorThreshold: 2 });
    call(breaker, { ok: false, reason: 'HTTP 503', retryAfterMs: 5_000 });
    call(breaker, fail);
    expect(transitions[0]?.openForMs).toBe(1_000);
  });

  it('a trial failure with a Retry-After lengthens the reopened window too', () => {
    const { clock, breaker, transitions } = setup({ errorThreshold: 1 });
    call(breaker, fail);
    clock.advance(1_000);
    call(breaker, { ok: false, reason: 'HTTP 503', retryAfterMs: 3_000 });
    expect(transitions.at(-1)).toMatchObject({ from: 'half_open', to: 'open', openForMs: 3_000 });
  });

  it('honorRetryAfter: false ignores it', () => {
    const { breaker, transitions } = setup({ errorThreshold: 1, honorRetryAfter: false });
    call(breaker, { ok: false, reason: 'HTTP 503', retryAfterMs: 5_000 });
    expect(transitions[0]?.openForMs).toBe(1_000);
  });
});

describe('isolate with the policies', () => {
  it('isolate while open with a backed-off window, then reset: closed, and the next opening gets TIME_WINDOW again', () => {
    const { clock, breaker, transitions } = setup({ errorThreshold: 1, maxOpenWindowMs: 8_000, jitter: 0 });
    call(breaker, fail);
    clock.advance(1_000);
    call(breaker, fail); // 2 s window
    breaker.isolate();
    clock.advance(60_000);
    expect(breaker.tryAcquire()).toEqual({ admitted: false, state: 'isolated', retryAfterMs: undefined });
    breaker.reset();
    call(breaker, fail);
    expect(transitions.map((t) => `${t.from}->${t.to} ${t.openForMs ?? ''}`)).toEqual([
      'closed->open 1000',
      'open->half_open ',
      'half_open->open 2000',
      'open->isolated ',
      'isolated->closed ',
      'closed->open 1000',
    ]);
  });

  it('isolate while half_open with trials in flight: their results are late, even slow or with a Retry-After', () => {
    const { clock, breaker } = setup({ errorThreshold: 1, halfOpenMaxCalls: 2, slowCallThresholdMs: 10 });
    call(breaker, fail);
    clock.advance(1_000);
    const [a, b] = [acquire(breaker), acquire(breaker)];
    breaker.isolate();
    expect(breaker.record(a, { ok: true, durationMs: 500 })).toBe('late');
    expect(breaker.record(b, { ok: false, reason: 'HTTP 503', retryAfterMs: 5_000 })).toBe('late');
    expect(breaker.snapshot()).toMatchObject({ state: 'isolated', trialsInFlight: 0 });
  });
});

describe('options are checked', () => {
  it.each([
    [{ failureRateThreshold: 0 }, /failureRateThreshold/],
    [{ failureRateThreshold: 101 }, /failureRateThreshold/],
    [{ failureRateThreshold: 50, minimumCalls: 0 }, /minimumCalls/],
    [{ failureRateThreshold: 50, slidingWindow: { calls: 0 } }, /slidingWindow.calls/],
    [{ failureRateThreshold: 50, slidingWindow: { timeMs: -1 } }, /slidingWindow.timeMs/],
    [{ slowCallThresholdMs: 0 }, /slowCallThresholdMs/],
    [{ openWindowMs: 1_000, maxOpenWindowMs: 999 }, /maxOpenWindowMs \(999\) must be >= openWindowMs \(1000\)/],
    [{ jitter: 1.5 }, /jitter/],
  ] as [Partial<BreakerOptions>, RegExp][])('%j is refused', (options, message) => {
    expect(() => new CircuitBreaker(options)).toThrow(message);
  });
});
