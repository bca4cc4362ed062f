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
