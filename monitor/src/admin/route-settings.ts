/** What /status shows of a route's own settings: the limits its counters count against ("3 of 5"). */
import type { MaxConcurrentCalls, RouteConfig } from '../config';

/** A route's breaker and limit settings, named as in the routes file (camelCase of the variable). */
export interface RouteSettings {
  readonly errorThreshold: number;
  readonly successThreshold: number;
  readonly halfOpenMaxCalls: number;
  /** TIME_WINDOW in seconds: the first open window (backoff may lengthen the one in force) */
  readonly timeWindow: number;
  readonly maxConcurrentCalls: MaxConcurrentCalls;
}

type Source = Pick<RouteConfig, 'errorThreshold' | 'successThreshold' | 'halfOpenMaxCalls' | 'timeWindowMs' | 'maxConcurrentCalls'>;

export function routeSettings(route: Source): RouteSettings {
  return {
    errorThreshold: route.errorThreshold,
    successThreshold: route.successThreshold,
    halfOpenMaxCalls: route.halfOpenMaxCalls,
    timeWindow: route.timeWindowMs / 1000,
    maxConcurrentCalls: route.maxConcurrentCalls,
  };
}
