/**
 * Counts per key (a client's address, a Host name) over a fixed window that starts at the key's
 * first count, for a bounded number of keys and without a timer per key.
 *
 * A key enters the map when its window starts and leaves it when the window has ended, so the
 * map's insertion order is the order the windows end in: ended windows are dropped from its front
 * whenever it is used, at constant cost per key. When every slot holds a running window, a new key
 * is not counted (`add` answers 0) until one ends: the memory stays bounded however many keys come,
 * and no key that is counted is forgotten early.
 */
import type { Clock } from '@circuit-breaker-demo/breaker';

interface Window {
  readonly startedAt: number;
  count: number;
}

export class WindowedCounts {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly clock: Clock,
    readonly windowMs: number,
    readonly maxKeys: number,
  ) {}

  /** Counts one for `key`; answers the count in its window so far, or 0 when no slot was free. */
  add(key: string): number {
    const now = this.clock.now();
    this.dropEnded(now);
    const window = this.windows.get(key);
    if (window !== undefined) return (window.count += 1);
    if (this.windows.size >= this.maxKeys) return 0;
    this.windows.set(key, { startedAt: now, count: 1 });
    return 1;
  }

  /** The count in `key`'s running window (0 without one), and the ms until that window ends. */
  get(key: string): { readonly count: number; readonly msLeft: number } {
    const now = this.clock.now();
    this.dropEnded(now);
    const window = this.windows.get(key);
    return window === undefined ? { count: 0, msLeft: 0 } : { count: window.count, msLeft: window.startedAt + this.windowMs - now };
  }

  /** Ends `key`'s window now. */
  delete(key: string): void {
    this.windows.delete(key);
  }

  /** Keys with a running window (at most `maxKeys`). */
  get size(): number {
    this.dropEnded(this.clock.now());
    return this.windows.size;
  }

  private dropEnded(now: number): void {
    for (const [key, window] of this.windows) {
      if (now - window.startedAt < this.windowMs) return;
      this.windows.delete(key);
    }
  }
}
