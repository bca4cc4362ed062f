/**
 * The wrong-token slow-down and the bounded per-key windows under it, with an injected clock:
 * the memory bound holds for any number of addresses, without a timer per address.
 */
import { SLOWDOWN_DEFAULTS, TokenSlowdown } from '../src/admin/token-slowdown';
import { WindowedCounts } from '../src/admin/windowed-counts';
import { FakeClock } from './support/fake-clock';

describe('WindowedCounts', () => {
  it('counts per key over a window that starts at the key\'s first count', () => {
    const clock = new FakeClock();
    const counts = new WindowedCounts(clock, 1_000, 10);
    expect([counts.add('a'), counts.add('a'), counts.add('b')]).toEqual([1, 2, 1]);
    clock.advance(999);
    expect(counts.get('a')).toEqual({ count: 2, msLeft: 1 });
    clock.advance(1);
    expect(counts.get('a')).toEqual({ count: 0, msLeft: 0 });
    expect(counts.add('a')).toBe(1);
    expect(counts.size).toBe(1);
  });

  it('holds at most maxKeys: a new key finds no slot (0) until a window ends, and no counted key is pushed out', () => {
    const clock = new FakeClock();
    const counts = new WindowedCounts(clock, 1_000, 3);
    for (const key of ['a', 'b', 'c']) counts.add(key);
    clock.advance(500);
    expect(counts.add('d')).toBe(0);
    expect(counts.add('a')).toBe(2);
    expect(counts.size).toBe(3);
    clock.advance(500);
    expect(counts.add('d')).toBe(1);
    expect(counts.size).toBe(1);
  });
});

describe('TokenSlowdown', () => {
  it('slows an address after maxFailures within the window, until the window from its first failure ends', () => {
    const clock = new FakeClock();
    const slowdown = new TokenSlowdown(clock);
    const starts = Array.from({ length: 5 }, () => slowdown.failed('192.0.2.1'));
    expect(starts).toEqual([false, false, false, false, true]);
    expect(slowdown.waitMs('192.0.2.1')).toBe(60_000);
    expect(slowdown.waitMs('192.0.2.2')).toBe(0);
    clock.advance(59_999);
    expect(slowdown.waitMs('192.0.2.1')).toBe(1);
    clock.advance(1);
    expect(slowdown.waitMs('192.0.2.1')).toBe(0);
  });

  it('a million failing addresses in a minute: never more than maxClients kept, a slowed one stays slowed, every new one may try', () => {
    const clock = new FakeClock();
    const slowdown = new TokenSlowdown(clock);
    for (let i = 0; i < SLOWDOWN_DEFAULTS.maxFailures; i += 1) slowdown.failed('2001:db8::1');
    for (let i = 0; i < 1_000_000; i += 1) {
      slowdown.failed(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      if (i % 1_000 === 0) clock.advance(1);
    }
    expect(slowdown.clients).toBe(SLOWDOWN_DEFAULTS.maxClients);
    expect(slowdown.waitMs('2001:db8::1')).toBeGreaterThan(0);
    expect(slowdown.waitMs('198.51.100.7')).toBe(0);
    clock.advance(60_000);
    expect(slowdown.clients).toBe(0);
  });
});
