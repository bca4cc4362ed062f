import { FailureRate } from '../../src/policies/failure-rate';
import { CountWindow } from '../../src/policies/count-window';

/** Feeds `pattern` (F = failure, S = success) and returns the trip, if any, after the last call. */
function feed(rule: FailureRate, pattern: string) {
  let trip;
  for (const c of pattern) trip = rule.add(c === 'F', 0);
  return trip;
}

describe('failure rate over the window', () => {
  it('below the threshold: no trip', () => {
    expect(feed(new FailureRate(new CountWindow(10), 50, 10), 'SFSFSFSFSS')).toBeUndefined(); // 40%
  });

  it('at the threshold: trips', () => {
    expect(feed(new FailureRate(new CountWindow(10), 50, 10), 'SFSFSFSFSF')).toEqual({ calls: 10, failures: 5, ratePercent: 50 });
  });

  it('above the threshold: trips', () => {
    expect(feed(new FailureRate(new CountWindow(10), 50, 10), 'SFFFSFSFSF')).toEqual({ calls: 10, failures: 6, ratePercent: 60 });
  });

  it('not before the window holds the minimum number of calls', () => {
    const rule = new FailureRate(new CountWindow(20), 50, 5);
    expect(feed(rule, 'FFFF')).toBeUndefined(); // 100% of 4 calls
    expect(rule.add(true, 0)).toEqual({ calls: 5, failures: 5, ratePercent: 100 });
  });

  it('an exact percent, without rounding: 1 in 3 is below 34% and trips at 33%', () => {
    expect(feed(new FailureRate(new CountWindow(3), 34, 3), 'SSF')).toBeUndefined();
    expect(feed(new FailureRate(new CountWindow(3), 33, 3), 'SSF')).toMatchObject({ calls: 3, failures: 1 });
  });

  it('forgets what the window dropped', () => {
    const rule = new FailureRate(new CountWindow(4), 50, 4);
    expect(feed(rule, 'FFSS')).toMatchObject({ ratePercent: 50 });
    rule.clear();
    expect(feed(rule, 'SSSF')).toBeUndefined();
  });
});
