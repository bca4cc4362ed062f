/** MAX_CONCURRENT_CALLS as a limiter (SPEC "Concurrency limit"): one per route, shared by the proxy, the metrics and /status. */
import { AdaptiveLimiter, FixedLimiter, type Clock, type ConcurrencyLimiter } from '@circuit-breaker-demo/breaker';
import type { MaxConcurrentCalls } from '../config';

/** The route's limiter, on `clock`; undefined when the limit is off (the proxy then has none at all). */
export function createLimiter(setting: MaxConcurrentCalls, clock: Clock): ConcurrencyLimiter | undefined {
  if (setting === 'off') return undefined;
  // the library's defaults and their reasons: breaker/src/limiter/adaptive-limiter.ts
  if (setting === 'adaptive') return new AdaptiveLimiter({ clock });
  return new FixedLimiter({ limit: setting, clock });
}
