import { Baseline } from '../../src/limiter/baseline';

describe('the baseline (the usual latency)', () => {
  it('is unknown before the first success, then the lowest value of the current and the previous window', () => {
    const baseline = new Baseline(500);
    expect(baseline.value).toBeUndefined();
    baseline.add(30, 0, true);
    baseline.add(20, 100, true);
    baseline.add(40, 200, true);
    expect(baseline.value).toBe(20);
    baseline.add(50, 600, true); // a new window: the previous one (20) still counts
    expect(baseline.value).toBe(20);
  });

  it('a lasting higher latency replaces it one to two windows later, when it may rise', () => {
    const baseline = new Baseline(500);
    baseline.add(20, 0, true);
    baseline.add(50, 500, true);
    expect(baseline.value).toBe(20);
    baseline.add(55, 1_000, true);
    expect(baseline.value).toBe(50);
  });

  it('never rises while it may not: windows that end only lower it', () => {
    const baseline = new Baseline(500);
    baseline.add(20, 0, false);
    for (let at = 500; at <= 5_000; at += 500) baseline.add(80, at, false);
    expect(baseline.value).toBe(20);
    baseline.add(10, 5_100, false);
    expect(baseline.value).toBe(10);
  });

  it('windows with no success neither teach nor forget: after a long outage the old baseline still counts', () => {
    const baseline = new Baseline(500);
    baseline.add(20, 0, true);
    baseline.add(90, 60_000, true); // an hour of timeouts in between adds nothing
    expect(baseline.value).toBe(20);
  });
});
