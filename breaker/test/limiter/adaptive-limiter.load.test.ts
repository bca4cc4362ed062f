/**
 * The adaptive limit under an open-loop load on a fake clock (test/support/load.ts): the targets the
 * monitor's guarded proxy will be held to (issue 24), at 100 calls/s. Deterministic: evenly spaced
 * calls, and jitter from a seeded generator.
 */
import { AdaptiveLimiter, CircuitBreaker } from '../../src';
import { FakeClock } from '../support/fake-clock';
import { limitAt, overloadedShare, runLoad, type Answer } from '../support/load';

function setup() {
  const clock = new FakeClock(0);
  return { clock, limiter: new AdaptiveLimiter({ clock }) };
}

/** A seeded generator of numbers in [0, 1) (Park-Miller), so a jittered run is the same every time. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 16_807) % 2_147_483_647) / 2_147_483_647;
}

/** ~1 ms answers: 0.5-2 ms, and 2% outliers of 15-45 ms (a GC pause, a busy tick). */
function fastUpstream(random: () => number): () => Answer {
  return () => ({ latencyMs: random() < 0.02 ? 15 + random() * 30 : 0.5 + random() * 1.5 });
}

const RATE = 100;

it('against a hung upstream (0.4 s timeout, breaker at 3 failures): at most 10 calls reach it, all at once, before the circuit opens', () => {
  const { clock, limiter } = setup();
  runLoad(limiter, clock, { ratePerSecond: RATE, durationMs: 10_000, upstream: fastUpstream(seeded(1)) });
  const breaker = new CircuitBreaker({ clock, errorThreshold: 3, openWindowMs: 10_000 });
  const hang = runLoad(limiter, clock, { ratePerSecond: RATE, durationMs: 3_000, timeoutMs: 400, breaker, upstream: () => ({ latencyMs: Infinity }) });
  expect(hang.reachedBeforeOpen).toBeLessThanOrEqual(10);
  expect(hang.maxInFlight).toBeLessThanOrEqual(10);
  expect(breaker.state).toBe('open');
});

it('no call refused in steady traffic at ~1 ms, outliers included', () => {
  const { clock, limiter } = setup();
  const steady = runLoad(limiter, clock, { ratePerSecond: RATE, durationMs: 60_000, upstream: fastUpstream(seeded(2)) });
  expect(overloadedShare(steady, 0)).toBe(0);
});

it('no call refused while the baseline is measured: from the first call, 100 calls/s at 100 ms', () => {
  const { clock, limiter } = setup();
  const start = runLoad(limiter, clock, { ratePerSecond: RATE, durationMs: 5_000, upstream: () => ({ latencyMs: 100 }) });
  expect(overloadedShare(start, 0)).toBe(0);
});

// where the step falls within the baseline's 500 ms windows changes when it is adopted: try several
it.each([0, 130, 260, 390])('latency steps from ~1 ms to ~100 ms (%i ms into the run): under 1%% refused from 2 s after the step', (offset) => {
  const { clock, limiter } = setup();
  const random = seeded(3 + offset);
  const stepAt = 10_000 + offset;
  const fast = fastUpstream(random);
  const load = runLoad(limiter, clock, {
    ratePerSecond: RATE,
    durationMs: stepAt + 10_000,
    upstream: (at) => (at < stepAt ? fast() : { latencyMs: 70 + random() * 60 }),
  });
  expect(overloadedShare(load, 0, stepAt)).toBe(0);
  // it did shrink on the step: refusals came first
  expect(overloadedShare(load, stepAt, stepAt + 2_000)).toBeGreaterThan(0.05);
  expect(overloadedShare(load, stepAt + 2_000)).toBeLessThan(0.01);
  // Little's law: ~10 in flight at 100 calls/s and 100 ms; the limit leaves room above that
  expect(limitAt(load, stepAt + 9_000)).toBeGreaterThanOrEqual(15);
});

it.each([
  ['~1 ms', (random: () => number) => fastUpstream(random)],
  ['100 ms', () => () => ({ latencyMs: 100 })],
])('after a hang, the upstream heals answering in %s: everything passes again within 3 s', (_name, healed) => {
  const { clock, limiter } = setup();
  const answers = healed(seeded(4));
  const healAt = 8_000;
  const load = runLoad(limiter, clock, {
    ratePerSecond: RATE,
    durationMs: healAt + 6_000,
    timeoutMs: 400,
    upstream: (at) => (at < 5_000 ? answers() : at < healAt ? { latencyMs: Infinity } : answers()),
  });
  // the hang shrank it to the floor
  expect(limitAt(load, healAt)).toBe(4);
  expect(overloadedShare(load, healAt + 3_000)).toBe(0);
});

it('does not follow a queue it builds itself: an upstream that serves 5 calls at once keeps the limit far from the ceiling', () => {
  const { clock, limiter } = setup();
  // 5 workers of 100 ms: more calls in flight only wait longer (latency = 100 ms x in flight / 5)
  const load = runLoad(limiter, clock, {
    ratePerSecond: RATE,
    durationMs: 30_000,
    upstream: () => ({ latencyMs: 100 * Math.max(1, limiter.inFlight / 5) }),
  });
  const later = load.trace.filter((point) => point.at > 5_000);
  expect(Math.max(...later.map((point) => point.limit))).toBeLessThanOrEqual(30);
  expect(limiter.baselineMs).toBeLessThan(150);
});
