/** The trip and recovery policies of the configuration, as the breaker's options. */
import type { BreakerOptions } from '@circuit-breaker-demo/breaker';
import type { Config } from './config';

export function policyOptions(config: Config): BreakerOptions {
  return {
    maxOpenWindowMs: config.timeWindowMaxMs,
    honorRetryAfter: config.honorRetryAfter,
    ...(config.slowCallThresholdMs === undefined ? {} : { slowCallThresholdMs: config.slowCallThresholdMs }),
    ...(config.failureRateThreshold === undefined
      ? {}
      : { failureRateThreshold: config.failureRateThreshold, minimumCalls: config.minimumCalls, slidingWindow: config.slidingWindow }),
  };
}
