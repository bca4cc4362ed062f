import { CircuitBreaker, type Transition } from '@circuit-breaker-demo/breaker';
import { transitionMessage } from '../src/transition-log';
import { FakeClock } from './support/fake-clock';

function transitionsOf(act: (breaker: CircuitBreaker) => void): Transition[] {
  const breaker = new CircuitBreaker({ errorThreshold: 1, openWindowMs: 10_000, clock: new FakeClock() });
  const seen: Transition[] = [];
  breaker.onTransition((transition) => seen.push(transition));
  act(breaker);
  return seen;
}

it('names the cause of a manual isolate and reset', () => {
  const [isolated, reset] = transitionsOf((breaker) => {
    breaker.isolate();
    breaker.reset();
  });
  expect(transitionMessage(isolated!)).toBe('Circuit changed from closed to isolated (manual: isolated until reset)');
  expect(transitionMessage(reset!)).toBe('Circuit changed from isolated to closed (manual: reset)');
});

it('says how many failures opened the circuit, the last reason and when the trial comes', () => {
  const [opened] = transitionsOf((breaker) => {
    const admission = breaker.tryAcquire();
    if (admission.admitted) breaker.record(admission.ticket, { ok: false, reason: 'ECONNREFUSED' });
  });
  expect(transitionMessage(opened!)).toBe('Circuit changed from closed to open (1 consecutive failures, last: ECONNREFUSED; trial in 10 s)');
});

/** Records results through a breaker built with `options` (errorThreshold 100 unless given). */
function transitionsWith(options: ConstructorParameters<typeof CircuitBreaker>[0], act: (breaker: CircuitBreaker, clock: FakeClock) => void): Transition[] {
  const clock = new FakeClock();
  const breaker = new CircuitBreaker({ errorThreshold: 100, openWindowMs: 1_000, clock, ...options });
  const seen: Transition[] = [];
  breaker.onTransition((transition) => seen.push(transition));
  act(breaker, clock);
  return seen;
}

function results(breaker: CircuitBreaker, pattern: string, outcome = { ok: false as const, reason: 'HTTP 500' }): void {
  for (const c of pattern) {
    const admission = breaker.tryAcquire();
    if (admission.admitted) breaker.record(admission.ticket, c === 'F' ? outcome : { ok: true });
  }
}

it('says when the failure rate opened the circuit, over how many calls', () => {
  const [opened] = transitionsWith({ failureRateThreshold: 50, minimumCalls: 20, slidingWindow: { calls: 20 } }, (breaker) =>
    results(breaker, 'SFSFFSFSFFSFSFFSFSFF'),
  );
  expect(transitionMessage(opened!)).toBe('Circuit changed from closed to open (failure rate 60% over the last 20 calls, last: HTTP 500; trial in 1 s)');
});

it('names a time window by its length and the calls it held', () => {
  const [opened] = transitionsWith({ failureRateThreshold: 50, minimumCalls: 3, slidingWindow: { timeMs: 60_000 } }, (breaker) => results(breaker, 'SFF'));
  expect(transitionMessage(opened!)).toBe('Circuit changed from closed to open (failure rate 66.7% over the last 60 s (3 calls), last: HTTP 500; trial in 1 s)');
});

it("shows the growing window of a backoff, and a window the upstream's Retry-After set", () => {
  const seen = transitionsWith({ errorThreshold: 1, maxOpenWindowMs: 4_000, jitter: 0 }, (breaker, clock) => {
    results(breaker, 'F');
    clock.advance(1_000);
    results(breaker, 'F');
    clock.advance(2_000);
    results(breaker, 'F', { ok: false, reason: 'HTTP 503', retryAfterMs: 30_000 } as never);
  });
  expect(seen.filter((t) => t.to === 'open').map(transitionMessage)).toEqual([
    'Circuit changed from closed to open (1 consecutive failures, last: HTTP 500; trial in 1 s)',
    'Circuit changed from half_open to open (trial failed: HTTP 500; trial in 2 s)',
    "Circuit changed from half_open to open (trial failed: HTTP 503; trial in 30 s, as the upstream's Retry-After asked)",
  ]);
});
