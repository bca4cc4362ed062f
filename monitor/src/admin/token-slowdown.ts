/**
 * Failed control attempts slow their client down (SPEC "Admin API: who may ask"): after
 * `maxFailures` missing or wrong tokens from one address within `windowMs` of its first, that
 * address gets 429 until the window is over, and its token is not even compared. Each address has
 * a count of its own, so a client's failures never slow another down; an address that finds every
 * slot taken is not counted rather than pushing a counted one out.
 */
import type { Clock } from '@circuit-breaker-demo/breaker';
import { WindowedCounts } from './windowed-counts';

export interface SlowdownSettings {
  /** failed attempts one address may make within the window; the next ones get 429 */
  readonly maxFailures: number;
  readonly windowMs: number;
  /** addresses counted at once: the memory bound */
  readonly maxClients: number;
}

/** 5 guesses a minute per address; 4096 addresses take under 2 MB (measured: about 90 bytes an IPv4 address, 400 an IPv6 one). */
export const SLOWDOWN_DEFAULTS: SlowdownSettings = { maxFailures: 5, windowMs: 60_000, maxClients: 4096 };

export class TokenSlowdown {
  private readonly failures: WindowedCounts;
  readonly settings: SlowdownSettings;

  constructor(clock: Clock, settings: Partial<SlowdownSettings> = {}) {
    this.settings = { ...SLOWDOWN_DEFAULTS, ...settings };
    this.failures = new WindowedCounts(clock, this.settings.windowMs, this.settings.maxClients);
  }

  /** ms until `client` may try again; 0 when it may now. */
  waitMs(client: string): number {
    const { count, msLeft } = this.failures.get(client);
    return count >= this.settings.maxFailures ? msLeft : 0;
  }

  /** Counts a failed attempt; true when it is the one that starts the slow-down. */
  failed(client: string): boolean {
    return this.failures.add(client) === this.settings.maxFailures;
  }

  /** A right token: the client's count starts over. */
  succeeded(client: string): void {
    this.failures.delete(client);
  }

  /** addresses counted now */
  get clients(): number {
    return this.failures.size;
  }
}
