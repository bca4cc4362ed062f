import { backoffWindow } from '../../src/policies/backoff';

const settings = { baseMs: 1_000, maxMs: 8_000, jitter: 0 };
const never = () => {
  throw new Error('no random number should be drawn');
};

describe('backoff of the open window', () => {
  it('doubles on each reopening, up to the cap', () => {
    expect([0, 1, 2, 3, 4, 10].map((n) => backoffWindow(n, settings, never))).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
  });

  it('stays at the base when the cap is the base (the default): no backoff, no jitter', () => {
    expect(backoffWindow(5, { baseMs: 1_000, maxMs: 1_000, jitter: 0.1 }, never)).toBe(1_000);
  });

  it('the first window gets no jitter', () => {
    expect(backoffWindow(0, { ...settings, jitter: 0.5 }, never)).toBe(1_000);
  });

  it('jitter shortens a grown window by up to its share, never below the base nor above the cap', () => {
    const jittered = { ...settings, jitter: 0.1 };
    expect(backoffWindow(2, jittered, () => 0)).toBe(4_000);
    expect(backoffWindow(2, jittered, () => 0.999999)).toBeCloseTo(3_600, 2);
    expect(backoffWindow(2, jittered, () => 0.5)).toBe(3_800);
    expect(backoffWindow(9, jittered, () => 0)).toBe(8_000);
    // a large jitter on a window just over the base stops at the base
    expect(backoffWindow(1, { baseMs: 1_000, maxMs: 1_100, jitter: 1 }, () => 0.999)).toBe(1_000);
  });

  it('every jittered window lies within its bounds', () => {
    const jittered = { ...settings, jitter: 0.2 };
    for (let i = 0; i < 1_000; i += 1) {
      const r = i / 1_000;
      const window = backoffWindow(2, jittered, () => r);
      expect(window).toBeGreaterThan(4_000 * 0.8 - 1e-9);
      expect(window).toBeLessThanOrEqual(4_000);
    }
  });
});
