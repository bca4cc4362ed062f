/**
 * The last call result the breaker counted, from the probe loop or the proxy: /status shows it as
 * "the last outcome" (SPEC "Admin API"). The loop and the proxy write it; the admin API reads it.
 */
import type { CallSource } from './metrics';

/** How a counted call ended. */
export interface CallResult {
  readonly ok: boolean;
  /** the upstream's HTTP status; undefined when it did not answer (network error, timeout) */
  readonly status?: number;
  /** why it failed: `HTTP 502`, `ECONNREFUSED`, `timeout after 2000 ms`; undefined on success */
  readonly reason?: string;
  readonly latencyMs: number;
}

export interface RecordedOutcome extends CallResult {
  readonly source: CallSource;
  /** wall-clock time it was recorded, ms since the epoch */
  readonly at: number;
}

export class LastOutcome {
  private last: RecordedOutcome | undefined;
  private listeners: readonly ((outcome: RecordedOutcome) => void)[] = [];

  /** `wallClock`: Date.now by default */
  constructor(private readonly wallClock: () => number = Date.now) {}

  /** Notes a result the breaker is about to count; a late one (ignored by the breaker) is not recorded. */
  record(source: CallSource, result: CallResult): void {
    const recorded: RecordedOutcome = { source, ...result, at: this.wallClock() };
    this.last = recorded;
    for (const listener of this.listeners) listener(recorded);
  }

  /** Hears every result recorded from now on (the admin's event stream); returns the function that stops it. */
  onRecord(listener: (outcome: RecordedOutcome) => void): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((other) => other !== listener);
    };
  }

  /** The last recorded result, or undefined before the first. */
  get value(): RecordedOutcome | undefined {
    return this.last;
  }
}
