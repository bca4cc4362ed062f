import { ADAPTIVE_LIMITER_DEFAULTS, AdaptiveLimiter, type AdaptiveLimiterOptions, type CallEnd } from '../../src';
import { FakeClock } from '../support/fake-clock';
import { limitAt, runLoad } from '../support/load';

function setup(options: AdaptiveLimiterOptions = {}) {
  const clock = new FakeClock();
  const limiter = new AdaptiveLimiter({ ...options, clock });
  /**
   * One round trip: `count` calls at once (as many as the limiter admits), that all end after
   * `latencyMs` as `end`. Returns how many were admitted.
   */
  const round = (count: number, latencyMs: number, end: CallEnd = 'success'): number => {
    let admitted = 0;
    while (admitted < count && limiter.tryAcquire()) admitted += 1;
    clock.advance(latencyMs);
    for (let i = 0; i < admitted; i++) limiter.release(latencyMs, end);
    return admitted;
  };
  /** Rounds that fill the limit, `times` over; the limits after each. */
  const busy = (times: number, latencyMs: number, end: CallEnd = 'success'): number[] =>
    Array.from({ length: times }, () => {
      round(Infinity, latencyMs, end);
      return limiter.limit;
    });
  return { clock, limiter, round, busy };
}

describe('AdaptiveLimiter', () => {
  it('starts at initialLimit: admits that many calls before any latency is known, and refuses the next at once', () => {
    const { limiter } = setup();
    for (let i = 0; i < ADAPTIVE_LIMITER_DEFAULTS.initialLimit; i++) expect(limiter.tryAcquire()).toBe(true);
    expect(limiter.tryAcquire()).toBe(false);
    expect(limiter).toMatchObject({ limit: 10, inFlight: 10, latencyMs: undefined, baselineMs: undefined });
    limiter.release(5, 'dropped');
    expect(limiter.tryAcquire()).toBe(true);
  });

  it('grows while busy at the usual latency: every round trip that fills the limit raises it', () => {
    const { busy } = setup();
    const limits = busy(6, 20);
    for (let i = 1; i < limits.length; i++) expect(limits[i]).toBeGreaterThan(limits[i - 1]!);
    expect(limits[0]).toBeGreaterThan(10);
  });

  it('does not grow while the calls use under half of it, however long it runs', () => {
    const { limiter, round } = setup();
    for (let i = 0; i < 500; i++) round(4, 20);
    expect(limiter.limit).toBe(10);
  });

  it('holds the ceiling', () => {
    const { limiter, clock } = setup({ maxLimit: 25 });
    // 2000 calls/s at 20 ms need 40 in flight
    const load = runLoad(limiter, clock, { ratePerSecond: 2_000, durationMs: 3_000, upstream: () => ({ latencyMs: 20 }) });
    expect(Math.max(...load.trace.map((point) => point.limit))).toBe(25);
    expect(load.maxInFlight).toBe(25);
    expect(limitAt(load, 3_000)).toBe(25);
  });

  it('shrinks fast on a latency step up: halved per round trip, down to the floor in a few', () => {
    const { limiter, busy } = setup();
    busy(8, 20);
    const before = limiter.limit;
    const after = busy(4, 200);
    expect(after[0]).toBeLessThanOrEqual(Math.ceil(before * 0.75));
    expect(after[1]).toBeLessThanOrEqual(Math.ceil(before / 2));
    expect(after[3]).toBe(ADAPTIVE_LIMITER_DEFAULTS.minLimit);
  });

  it('scales the decrease with how far the latency is over the tolerance (a small excess, a small cut)', () => {
    const { limiter, round } = setup({ smoothing: 1 });
    round(2, 20);
    round(2, 44); // 2.2 x the usual 20 ms: the tolerance (2) is 40 ms, so x 40/44
    expect(limiter.limit).toBe(Math.round(10 * (40 / 44)));
  });

  it('halves on a timeout and shrinks by a tenth on a failure', () => {
    const timeouts = setup();
    timeouts.round(1, 400, 'timeout');
    expect(timeouts.limiter.limit).toBe(5);
    const failures = setup();
    failures.round(1, 3, 'failure');
    expect(failures.limiter.limit).toBe(9);
  });

  it('decreases at most once per round trip: a burst of calls that all time out together halves it once', () => {
    const { limiter, round } = setup();
    expect(round(10, 400, 'timeout')).toBe(10);
    expect(limiter.limit).toBe(5);
    round(10, 400, 'timeout'); // admitted after that decrease: a new round trip, a new decrease
    expect(limiter.limit).toBe(ADAPTIVE_LIMITER_DEFAULTS.minLimit);
  });

  it('never climbs while every call times out (timeouts are not ignored), and holds the floor', () => {
    const { limiter, busy } = setup();
    const limits = busy(20, 400, 'timeout');
    for (let i = 1; i < limits.length; i++) expect(limits[i]).toBeLessThanOrEqual(limits[i - 1]!);
    expect(limiter.limit).toBe(ADAPTIVE_LIMITER_DEFAULTS.minLimit);
  });

  it('never learns the latency or the baseline from a timed-out, failed or dropped call', () => {
    const { limiter, round, clock } = setup();
    round(3, 20);
    const learned = { latencyMs: limiter.latencyMs, baselineMs: limiter.baselineMs };
    for (let i = 0; i < 30; i++) {
      round(4, 2_000, 'timeout');
      round(4, 1, 'failure');
      round(4, 0, 'dropped');
      clock.advance(1_000); // many baseline windows go by
    }
    expect({ latencyMs: limiter.latencyMs, baselineMs: limiter.baselineMs }).toEqual(learned);
    expect(learned).toEqual({ latencyMs: 20, baselineMs: 20 });
  });

  it('a dropped call frees its slot and changes nothing else', () => {
    const { limiter, round } = setup();
    round(3, 20);
    const before = { limit: limiter.limit, latencyMs: limiter.latencyMs, baselineMs: limiter.baselineMs };
    round(10, 900, 'dropped');
    expect({ limit: limiter.limit, latencyMs: limiter.latencyMs, baselineMs: limiter.baselineMs }).toEqual(before);
    expect(limiter.inFlight).toBe(0);
  });

  it('recovers after the upstream heals: busy, it grows; quiet, it drifts back to initialLimit', () => {
    const busyRoute = setup();
    busyRoute.round(3, 20);
    busyRoute.busy(6, 400, 'timeout');
    expect(busyRoute.limiter.limit).toBe(4);
    expect(busyRoute.busy(6, 20).at(-1)).toBeGreaterThanOrEqual(10);

    const quietRoute = setup();
    quietRoute.round(3, 20);
    quietRoute.busy(6, 400, 'timeout');
    for (let i = 0; i < 200; i++) quietRoute.round(1, 20);
    expect(quietRoute.limiter.limit).toBe(10);
  });

  it('drifts back down to initialLimit once a busy spell is over (a hang then ties up few calls)', () => {
    const { limiter, busy, round } = setup();
    busy(10, 20);
    expect(limiter.limit).toBeGreaterThan(20);
    for (let i = 0; i < 300; i++) round(1, 20);
    expect(limiter.limit).toBe(10);
  });

  it('a lasting slower latency becomes the usual once the limit is at its floor, and the limit grows again', () => {
    const { limiter, busy } = setup();
    busy(5, 20);
    busy(4, 200);
    expect(limiter.limit).toBe(4);
    expect(limiter.baselineMs).toBe(20);
    // at the floor, within two baseline windows (2 x 500 ms) of 200 ms answers
    for (let elapsed = 0; elapsed <= 1_000 && limiter.baselineMs! < 100; elapsed += 200) busy(1, 200);
    expect(limiter.baselineMs).toBeCloseTo(200, 0);
    expect(busy(6, 200).at(-1)).toBeGreaterThan(10);
  });

  it('a faster latency is the usual at once', () => {
    const { limiter, round } = setup();
    round(2, 200);
    round(2, 20);
    round(2, 20);
    expect(limiter.baselineMs).toBeLessThan(limiter.latencyMs! + 1e-9);
    expect(limiter.baselineMs).toBeLessThan(100);
  });

  it('latency under 5 ms compares as 5 ms: jitter of a few ms on a fast route shrinks nothing', () => {
    const { limiter, round } = setup({ smoothing: 1 });
    round(2, 0.3);
    round(2, 9);
    expect(limiter.limit).toBe(10);
    round(2, 11);
    expect(limiter.limit).toBeLessThan(10);
  });

  describe('options', () => {
    it.each<[AdaptiveLimiterOptions, RegExp]>([
      [{ minLimit: 0 }, /minLimit must be an integer >= 1, got 0/],
      [{ maxLimit: 2.5 }, /maxLimit must be an integer >= 1, got 2.5/],
      [{ minLimit: 8, maxLimit: 6 }, /maxLimit \(6\) must be >= minLimit \(8\)/],
      [{ minLimit: 4, initialLimit: 2 }, /initialLimit \(2\) must be between minLimit \(4\) and maxLimit \(100\)/],
      [{ tolerance: 0.9 }, /tolerance must be a finite number >= 1/],
      [{ smoothing: 0 }, /smoothing must be > 0 and <= 1/],
      [{ baselineWindowMs: -1 }, /baselineWindowMs must be a finite number > 0/],
    ])('refuses %j', (options, message) => {
      expect(() => new AdaptiveLimiter(options)).toThrow(message);
    });

    it('a default bound gives way to a given one', () => {
      expect(new AdaptiveLimiter({ maxLimit: 3 }).limit).toBe(3);
      expect(new AdaptiveLimiter({ initialLimit: 2 }).limit).toBe(2);
      expect(new AdaptiveLimiter({ minLimit: 150 }).limit).toBe(150);
    });
  });

  it('takes the end time from the caller when given (no clock read), and reads its clock otherwise', () => {
    const { limiter, clock } = setup();
    const now = jest.spyOn(clock, 'now');
    limiter.tryAcquire();
    limiter.release(20, 'success', clock.now() + 5);
    expect(now).toHaveBeenCalledTimes(1); // the test's own read
    limiter.tryAcquire();
    limiter.release(20, 'success');
    expect(now).toHaveBeenCalledTimes(2);
  });

  it('refuses a release without a call in flight, and a latency that is not a finite number >= 0 (freeing the slot)', () => {
    const { limiter } = setup();
    expect(() => limiter.release(1, 'success')).toThrow(/without a call in flight/);
    limiter.tryAcquire();
    expect(() => limiter.release(NaN, 'success')).toThrow(RangeError);
    expect(limiter.inFlight).toBe(0);
    expect(limiter.latencyMs).toBeUndefined();
  });
});
