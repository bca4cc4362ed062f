/**
 * Property test: random sequences of acquisitions, releases (each with its real latency on the
 * clock and a random ending) and time, against both limiters with random settings. At every step,
 * the invariants of SPEC "Concurrency limit": calls in flight never above the limit at admission,
 * the limit within its floor and ceiling, a refusal only when the limit is reached, and nothing
 * learned from a call that timed out, failed or was dropped.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AdaptiveLimiter, FixedLimiter, type AdaptiveLimiterOptions, type CallEnd, type ConcurrencyLimiter } from '../../src';
import { FakeClock } from '../support/fake-clock';

type Step =
  | { kind: 'acquire'; times: number }
  | { kind: 'release'; pick: number; end: CallEnd }
  | { kind: 'time'; ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('acquire' as const), times: fc.integer({ min: 1, max: 12 }) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('release' as const),
      pick: fc.nat(),
      end: fc.constantFrom<CallEnd>('success', 'success', 'success', 'failure', 'timeout', 'dropped'),
    }),
  },
  // short steps keep latencies near each other (growth), long ones make latency steps and cross windows
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('time' as const), ms: fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 2_000 })) }) },
);

const adaptiveSettings: fc.Arbitrary<AdaptiveLimiterOptions & { minLimit: number; maxLimit: number }> = fc
  .record({
    minLimit: fc.integer({ min: 1, max: 6 }),
    span: fc.integer({ min: 0, max: 60 }),
    start: fc.double({ min: 0, max: 1, noNaN: true }),
    tolerance: fc.double({ min: 1, max: 4, noNaN: true }),
    smoothing: fc.double({ min: 0.01, max: 1, noNaN: true }),
    baselineWindowMs: fc.integer({ min: 10, max: 2_000 }),
  })
  .map(({ minLimit, span, start, ...rest }) => ({ ...rest, minLimit, maxLimit: minLimit + span, initialLimit: minLimit + Math.round(span * start) }));

interface Observed {
  readonly limit: number;
  readonly inFlight: number;
  readonly latencyMs: number | undefined;
  readonly baselineMs: number | undefined;
}

const observe = (limiter: ConcurrencyLimiter): Observed => ({
  limit: limiter.limit,
  inFlight: limiter.inFlight,
  latencyMs: limiter instanceof AdaptiveLimiter ? limiter.latencyMs : undefined,
  baselineMs: limiter instanceof AdaptiveLimiter ? limiter.baselineMs : undefined,
});

/** Runs the steps; `bounds` are the floor and ceiling the limit must stay within. */
function check(limiter: ConcurrencyLimiter, clock: FakeClock, bounds: { min: number; max: number }, steps: readonly Step[]): { refusals: number; decreases: number; increases: number } {
  const started: number[] = [];
  let refusals = 0;
  let decreases = 0;
  let increases = 0;
  // node's assert, not expect: thousands of checks per run, and expect costs ~10x more each
  const within = (seen: Observed): void => {
    assert.ok(Number.isInteger(seen.limit) && seen.limit >= bounds.min && seen.limit <= bounds.max, `limit ${seen.limit} outside ${bounds.min}-${bounds.max}`);
    assert.equal(seen.inFlight, started.length);
  };
  for (const current of steps) {
    const before = observe(limiter);
    switch (current.kind) {
      case 'acquire':
        for (let i = 0; i < current.times; i++) {
          const free = limiter.inFlight < limiter.limit;
          const admitted = limiter.tryAcquire();
          // a refusal only at the limit; an admission never takes the calls in flight above it
          assert.equal(admitted, free);
          if (admitted) {
            started.push(clock.now());
            assert.ok(limiter.inFlight <= limiter.limit, `admitted to ${limiter.inFlight} in flight over the limit ${limiter.limit}`);
          } else {
            refusals += 1;
          }
        }
        // admitting or refusing changes no limit and learns nothing
        assert.deepEqual({ ...observe(limiter), inFlight: 0 }, { ...before, inFlight: 0 });
        break;
      case 'release': {
        if (started.length === 0) break;
        const [startedAt] = started.splice(current.pick % started.length, 1);
        limiter.release(clock.now() - startedAt!, current.end);
        const after = observe(limiter);
        if (current.end !== 'success') {
          // nothing learned from a call that timed out, failed or was dropped
          assert.deepEqual([after.latencyMs, after.baselineMs], [before.latencyMs, before.baselineMs]);
          assert.ok(after.limit <= before.limit, `a ${current.end} raised the limit from ${before.limit} to ${after.limit}`);
          if (after.limit < before.limit) decreases += 1;
          if (current.end === 'dropped') assert.equal(after.limit, before.limit);
        } else if (limiter instanceof AdaptiveLimiter) {
          if (after.limit > before.limit) increases += 1;
          assert.ok(after.latencyMs !== undefined && after.baselineMs !== undefined && after.baselineMs <= after.latencyMs);
        }
        break;
      }
      case 'time':
        clock.advance(current.ms);
        assert.deepEqual(observe(limiter), before);
        break;
    }
    within(observe(limiter));
  }
  return { refusals, decreases, increases };
}

it('the adaptive limit: in flight never above the limit at admission, the limit within floor and ceiling, nothing learned from bad calls', () => {
  let refusals = 0;
  let decreases = 0;
  let increases = 0;
  let stepsRun = 0;
  fc.assert(
    fc.property(adaptiveSettings, fc.array(step, { minLength: 20, maxLength: 300, size: 'max' }), (settings, steps) => {
      const clock = new FakeClock();
      const limiter = new AdaptiveLimiter({ ...settings, clock });
      const seen = check(limiter, clock, { min: settings.minLimit, max: settings.maxLimit }, steps);
      refusals += seen.refusals;
      decreases += seen.decreases;
      increases += seen.increases;
      stepsRun += steps.length;
    }),
    { numRuns: 500 },
  );
  // the runs reached the limit, shrank it and grew it, not only the easy paths
  expect(stepsRun).toBeGreaterThan(50_000);
  expect(refusals).toBeGreaterThan(1_000);
  expect(decreases).toBeGreaterThan(100);
  expect(increases).toBeGreaterThan(100);
});

it('the fixed limit: the same invariants, and a limit that never moves', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 20 }), fc.array(step, { minLength: 20, maxLength: 200 }), (limit, steps) => {
      const clock = new FakeClock();
      check(new FixedLimiter({ limit, clock }), clock, { min: limit, max: limit }, steps);
    }),
    { numRuns: 100 },
  );
});
