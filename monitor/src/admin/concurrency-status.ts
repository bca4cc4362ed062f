/** What /status shows of a route's concurrency limit (MAX_CONCURRENT_CALLS). */
import { AdaptiveLimiter, type ConcurrencyLimiter } from '@circuit-breaker-demo/breaker';

/** null when the limit is off, like `failureRate` when its policy is off. */
export type ConcurrencyStatus = {
  readonly mode: 'fixed' | 'adaptive';
  /** calls allowed in flight now (the adaptive limit moves) */
  readonly limit: number;
  /** proxied calls holding a slot: sent to the upstream and not yet ended there */
  readonly inFlight: number;
} | null;

export function concurrencyStatus(limiter: ConcurrencyLimiter | undefined): ConcurrencyStatus {
  if (limiter === undefined) return null;
  return { mode: limiter instanceof AdaptiveLimiter ? 'adaptive' : 'fixed', limit: limiter.limit, inFlight: limiter.inFlight };
}
