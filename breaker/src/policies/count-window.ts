import type { SlidingWindow, WindowCounts } from './sliding-window';

/** The last `size` calls, in a ring: one byte per call, no timestamps. */
export class CountWindow implements SlidingWindow {
  readonly timed = false;
  calls = 0;
  failures = 0;
  private readonly ring: Uint8Array;
  private next = 0;

  constructor(readonly size: number) {
    this.ring = new Uint8Array(size);
  }

  add(failed: boolean): void {
    if (this.calls === this.size) this.failures -= this.ring[this.next]!;
    else this.calls += 1;
    const bit = failed ? 1 : 0;
    this.ring[this.next] = bit;
    this.failures += bit;
    this.next = this.next + 1 === this.size ? 0 : this.next + 1;
  }

  counts(): WindowCounts {
    return { calls: this.calls, failures: this.failures };
  }

  clear(): void {
    this.ring.fill(0);
    this.next = 0;
    this.calls = 0;
    this.failures = 0;
  }
}
