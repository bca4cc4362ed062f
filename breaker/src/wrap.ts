import type { CircuitBreaker } from './breaker';
import { execute, type CallOptions } from './execute';

/**
 * A guarded version of `fn`: the same parameters, `this` and result (as a promise), each call run
 * through `execute`. `fn` gets no signal: a timeout fails the call at once, but cannot stop work `fn`
 * has started; use `execute` for a call that should be aborted.
 */
export function wrap<This, A extends unknown[], R>(
  breaker: CircuitBreaker,
  fn: (this: This, ...args: A) => R | PromiseLike<R>,
  options?: CallOptions<R>,
): (this: This, ...args: A) => Promise<R> {
  return function guardedCall(this: This, ...args: A): Promise<R> {
    return execute(breaker, () => fn.apply(this, args), options);
  };
}
