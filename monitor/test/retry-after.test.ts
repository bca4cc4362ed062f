import { asksToWait, parseRetryAfter } from '../src/retry-after';

const now = Date.parse('2026-12-01T10:00:00Z');

describe('Retry-After', () => {
  it('in seconds', () => {
    expect(parseRetryAfter('5', now)).toBe(5_000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter('0', now)).toBe(0);
  });

  it('as an HTTP date, counted from now', () => {
    expect(parseRetryAfter('Tue, 01 Dec 2026 10:00:30 GMT', now)).toBe(30_000);
    // the obsolete RFC 850 form
    expect(parseRetryAfter('Tuesday, 01-Dec-26 10:01:00 GMT', now)).toBe(60_000);
  });

  it('a date in the past asks for nothing', () => {
    expect(parseRetryAfter('Tue, 01 Dec 2026 09:00:00 GMT', now)).toBe(0);
  });

  it.each([undefined, '', '-5', '1.5', 'soon', '2026-12-01T10:00:30Z', 'Tue, 99 Foo 2026 10:00:30 GMT'])('ignores %p', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });

  it('takes the first of repeated headers', () => {
    expect(parseRetryAfter(['7', '9'], now)).toBe(7_000);
  });

  it('only 429 and 503 ask to wait', () => {
    expect([429, 503, 500, 502, 200, undefined].map(asksToWait)).toEqual([true, true, false, false, false, false]);
  });
});
