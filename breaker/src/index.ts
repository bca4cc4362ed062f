/** The public surface of the package: everything not exported here is internal. */
export {
  BREAKER_DEFAULTS,
  CircuitBreaker,
  type Admission,
  type BreakerEventName,
  type BreakerEvents,
  type BreakerListener,
  type BreakerOptions,
  type BreakerSnapshot,
  type CallEvent,
  type FailureEvent,
  type LateEvent,
  type Outcome,
  type RecordResult,
  type Rejection,
  type State,
  type Ticket,
  type Transition,
  type TransitionCause,
  type TransitionListener,
} from './breaker';
export { monotonicClock, type Clock } from './clock';
export { ADAPTIVE_LIMITER_DEFAULTS, AdaptiveLimiter, type AdaptiveLimiterOptions } from './limiter/adaptive-limiter';
export { FixedLimiter, type FixedLimiterOptions } from './limiter/fixed-limiter';
export type { CallEnd, ConcurrencyLimiter } from './limiter/limiter';
export { MAX_RETRY_AFTER_MS } from './policies/retry-after';
export type { SlidingWindowOptions, WindowCounts } from './policies/sliding-window';
export { guarded, type BreakerSource } from './decorator';
export { CircuitOpenError } from './errors/circuit-open-error';
export { ConcurrencyLimitError } from './errors/concurrency-limit-error';
export { TimeoutError } from './errors/timeout-error';
export { execute, reasonOf, tryExecute, type CallOptions, type CallResult, type Guardable } from './execute';
export { wrap } from './wrap';
export { BreakerRegistry, REGISTRY_DEFAULTS, type Keyed, type OverflowEvent, type RegistryEventName, type RegistryEvents, type RegistryListener, type RegistryOptions, type RegistrySnapshot } from './registry/registry';
export type { BreakerOverrides, BreakerSettings, SlidingWindowOverride } from './registry/overrides';
