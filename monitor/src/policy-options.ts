/** The trip and recovery policies of the configuration, as the breaker's options. */
import type { BreakerOptions } from '@circuit-breaker-demo/breaker';
import type { RouteConfig } from './config';

/** The policy settings of a route (or of the top-level configuration, which has the same fields). */
export type PolicySettings = Pick<RouteConfig, 'timeWindowMaxMs' | 'honorRetryAfter' | 'slowCallThresholdMs' | 'failureRateThreshold' | 'minimumCalls' | 'slidingWindow'>;

export function policyOptions(config: PolicySettings): BreakerOptions {
  return {
    maxOpenWindowMs: config.timeWindowMaxMs,
    honorRetryAfter: config.honorRetryAfter,
    ...(config.slowCallThresholdMs === undefined ? {} : { slowCallThresholdMs: config.slowCallThresholdMs }),
    ...(config.failureRateThreshold === undefined
      ? {}
      : { failureRateThreshold: config.failureRateThreshold, minimumCalls: config.minimumCalls, slidingWindow: config.slidingWindow }),
  };
}
