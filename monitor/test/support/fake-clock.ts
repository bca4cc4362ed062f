import type { Clock } from '@circuit-breaker-demo/breaker';

/** A clock that moves only when the test says so. */
export class FakeClock implements Clock {
  constructor(private time = 1_000) {}

  now(): number {
    return this.time;
  }

  advance(ms: number): void {
    this.time += ms;
  }
}
