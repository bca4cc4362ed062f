import type { CircuitBreaker } from './breaker';
import { execute, type CallOptions } from './execute';

/** The breaker a decorated method runs through: one for every instance, or one chosen per instance. */
export type BreakerSource<This> = CircuitBreaker | ((instance: This) => CircuitBreaker);

/** Stands in for the decorator's context when the fallback's type does not fit the method's result. */
interface FallbackMustReturnTheMethodsResult {
  readonly fallbackMustReturnTheMethodsResult: never;
}

/**
 * A standard (TC39) method decorator: every call of the async method runs through `execute` with
 * `options`. The method keeps its parameters, `this` and result; a `fallback` must return that result.
 *
 *     class Users {
 *       @guarded(breaker, { timeoutMs: 2000 })
 *       async get(id: string): Promise<User> { ... }
 *     }
 */
export function guarded<F = never>(source: BreakerSource<never> | CircuitBreaker, options?: CallOptions<F>) {
  return function decorate<This, A extends unknown[], R>(
    method: (this: This, ...args: A) => Promise<R>,
    context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => Promise<R>> &
      ([F] extends [R] ? unknown : FallbackMustReturnTheMethodsResult),
  ): (this: This, ...args: A) => Promise<R> {
    if (context.kind !== 'method') throw new TypeError('guarded() decorates methods only');
    const pick = source as BreakerSource<This>;
    const callOptions = options as CallOptions<R> | undefined;
    return function guardedMethod(this: This, ...args: A): Promise<R> {
      const breaker = typeof pick === 'function' ? pick(this) : pick;
      return execute(breaker, () => method.apply(this, args), callOptions);
    };
  };
}
