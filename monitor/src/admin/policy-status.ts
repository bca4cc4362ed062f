/** What /status shows of the trip and recovery policies: the window in force and the failure rate. */
import type { BreakerSnapshot } from '@circuit-breaker-demo/breaker';

export interface PolicyStatus {
  /**
   * The open window in force, in seconds: while open, this window's length (backed off, or set by
   * the upstream's Retry-After); otherwise the length the next opening would get.
   */
  readonly openWindowSeconds: number;
  /** the failure-rate window: calls in it, failures among them, their rate in percent; null when FAILURE_RATE_THRESHOLD is off */
  readonly failureRate: { readonly calls: number; readonly failures: number; readonly percent: number } | null;
}

export function policyStatus(snapshot: BreakerSnapshot): PolicyStatus {
  const window = snapshot.window;
  return {
    openWindowSeconds: Math.round(snapshot.openWindowMs) / 1000,
    failureRate:
      window === undefined
        ? null
        : { calls: window.calls, failures: window.failures, percent: window.calls === 0 ? 0 : Math.round((window.failures * 1000) / window.calls) / 10 },
  };
}
