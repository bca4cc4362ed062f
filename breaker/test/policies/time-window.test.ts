import { TimeWindow } from '../../src/policies/time-window';

describe('time window split into buckets', () => {
  // 1 s in 10 buckets of 100 ms: a call counts while its bucket is one of the last 10
  it('counts the calls of the current bucket and the nine before it', () => {
    const window = new TimeWindow(1_000, 10);
    window.add(true, 1_050); // bucket 10
    window.add(false, 1_950); // bucket 19
    expect(window.counts(1_999)).toEqual({ calls: 2, failures: 1 });
  });

  it('drops a bucket as soon as the window has moved past it, not per call', () => {
    const window = new TimeWindow(1_000, 10);
    window.add(true, 1_050); // bucket 10
    window.add(true, 1_099); // bucket 10
    window.add(false, 1_100); // bucket 11
    expect(window.counts(1_999)).toEqual({ calls: 3, failures: 2 }); // bucket 19: 10..19
    expect(window.counts(2_000)).toEqual({ calls: 1, failures: 0 }); // bucket 20: 11..20, both failures gone at once
    expect(window.counts(2_100)).toEqual({ calls: 0, failures: 0 });
  });

  it('a jump longer than the window empties it', () => {
    const window = new TimeWindow(1_000, 10);
    for (let t = 0; t < 1_000; t += 50) window.add(true, t);
    expect(window.counts(999)).toEqual({ calls: 20, failures: 20 });
    window.add(false, 60_000);
    expect(window.counts(60_000)).toEqual({ calls: 1, failures: 0 });
  });

  it('keeps counting in its buckets across many turns of the ring', () => {
    const window = new TimeWindow(100, 4); // 25 ms buckets
    for (let t = 0; t < 10_000; t += 10) window.add(t % 20 === 0, t);
    // the last 4 buckets: 9900..9999, calls at 9900, 9910, ..., 9990
    expect(window.counts(9_990)).toEqual({ calls: 10, failures: 5 });
  });

  it('is empty after clear, and starts again at the next call', () => {
    const window = new TimeWindow(1_000, 10);
    window.add(true, 0);
    window.clear();
    expect(window.counts(10)).toEqual({ calls: 0, failures: 0 });
    window.add(false, 5_000);
    expect(window.counts(5_000)).toEqual({ calls: 1, failures: 0 });
  });
});
