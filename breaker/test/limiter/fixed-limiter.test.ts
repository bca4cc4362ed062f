import { FixedLimiter, monotonicClock } from '../../src';
import { FakeClock } from '../support/fake-clock';

describe('FixedLimiter', () => {
  it('admits `limit` calls at once and refuses the next at once; a release frees a slot', () => {
    const limiter = new FixedLimiter({ limit: 2 });
    expect([limiter.tryAcquire(), limiter.tryAcquire(), limiter.tryAcquire()]).toEqual([true, true, false]);
    expect(limiter.inFlight).toBe(2);
    limiter.release(12, 'success');
    expect(limiter.tryAcquire()).toBe(true);
    expect(limiter.tryAcquire()).toBe(false);
  });

  it('keeps its limit whatever the latency and outcome', () => {
    const limiter = new FixedLimiter({ limit: 3 });
    for (const end of ['timeout', 'failure', 'dropped', 'success'] as const) {
      for (let i = 0; i < 3; i++) limiter.tryAcquire();
      for (let i = 0; i < 3; i++) limiter.release(5_000, end);
      expect(limiter.limit).toBe(3);
    }
  });

  it('refuses a limit that is not an integer >= 1, and a release without a call in flight', () => {
    expect(() => new FixedLimiter({ limit: 0 })).toThrow(/limit must be an integer >= 1, got 0/);
    expect(() => new FixedLimiter({ limit: 1.5 })).toThrow(RangeError);
    expect(() => new FixedLimiter({ limit: 1 }).release(1, 'success')).toThrow(/without a call in flight/);
  });

  it('times calls on the clock it is given (the monotonic clock by default)', () => {
    const clock = new FakeClock();
    expect(new FixedLimiter({ limit: 1, clock }).clock).toBe(clock);
    expect(new FixedLimiter({ limit: 1 }).clock).toBe(monotonicClock);
  });
});
