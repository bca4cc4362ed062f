import { MAX_RETRY_AFTER_MS, windowWithRetryAfter } from '../../src/policies/retry-after';

describe("the upstream's Retry-After", () => {
  it('makes the window at least that long', () => {
    expect(windowWithRetryAfter(1_000, 5_000)).toBe(5_000);
  });

  it('never shortens the window', () => {
    expect(windowWithRetryAfter(10_000, 5_000)).toBe(10_000);
    expect(windowWithRetryAfter(10_000, undefined)).toBe(10_000);
  });

  it('is believed up to one hour', () => {
    expect(windowWithRetryAfter(1_000, 86_400_000)).toBe(MAX_RETRY_AFTER_MS);
    expect(MAX_RETRY_AFTER_MS).toBe(3_600_000);
  });
});
