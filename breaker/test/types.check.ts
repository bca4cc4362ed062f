/**
 * Type-level tests, checked by `npm run typecheck` (not run by jest): each `@ts-expect-error` line
 * must be an error, so the check fails if the types grow too loose, and the other lines must
 * compile, so it fails if they grow too strict.
 */
import { AdaptiveLimiter, CircuitBreaker, execute, FixedLimiter, guarded, tryExecute, wrap, type CallEnd, type CallResult, type ConcurrencyLimiter, type Rejection } from '../src';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assertType = <T extends true>(): T => true as T;

const breaker = new CircuitBreaker();
interface User {
  readonly id: string;
}

// execute: the result type is the function's, awaited
const _user = execute(breaker, async (signal: AbortSignal) => ({ id: String(signal.aborted) }) as User);
assertType<Equal<typeof _user, Promise<User>>>();
// @ts-expect-error a fallback must return the call's type
void execute(breaker, async () => 1, { fallback: () => 'one' });
// @ts-expect-error resultFailure sees the call's value
void execute(breaker, async () => 1, { resultFailure: (value: string) => value });
// tryExecute: a union to narrow
const settled = tryExecute(breaker, () => 42);
assertType<Equal<typeof settled, Promise<CallResult<number>>>>();
void settled.then((result) => {
  if (result.kind === 'rejected') assertType<Equal<typeof result.retryAfterMs, number | undefined>>();
  // @ts-expect-error only a value result has a value
  if (result.kind === 'error') void result.value;
});

// wrap: same parameters, this and result
const getUser = wrap(breaker, async (id: string, verbose?: boolean): Promise<User> => ({ id: verbose ? id : '' }));
assertType<Equal<Parameters<typeof getUser>, [id: string, verbose?: boolean]>>();
assertType<Equal<ReturnType<typeof getUser>, Promise<User>>>();
// @ts-expect-error the wrapped function keeps its parameter types
void getUser(1);
const counter = {
  n: 1,
  add: wrap(breaker, function (this: { n: number }, by: number) {
    return this.n + by;
  }),
};
assertType<Equal<ReturnType<typeof counter.add>, Promise<number>>>();
// @ts-expect-error `this` is typed: a detached call has none
void (0, counter.add)(1);

// limiters: both kinds, or one of the caller's own, as the limiter option
void execute(breaker, async () => 1, { limiter: new FixedLimiter({ limit: 5 }) });
void tryExecute(breaker, async () => 1, { limiter: new AdaptiveLimiter({ maxLimit: 50 }) });
const own: ConcurrencyLimiter = { tryAcquire: () => true, release: (_latencyMs: number, _end: CallEnd) => undefined, limit: 1, inFlight: 0, clock: { now: () => 0 } };
void execute(breaker, async () => 1, { limiter: own });
// @ts-expect-error a limiter's limit is read-only
own.limit = 2;
// @ts-expect-error release says how the call ended, in the limiter's words
own.release(1, 'ok');
void settled.then((result) => {
  if (result.kind === 'overloaded') assertType<Equal<[typeof result.limit, typeof result.inFlight], [number, number]>>();
});

// a rejection while isolated has no time to wait
declare const rejection: Rejection;
if (rejection.state === 'isolated') assertType<Equal<typeof rejection.retryAfterMs, undefined>>();

// the decorator
export class Service {
  @guarded(breaker)
  async get(id: string): Promise<User> {
    return { id };
  }

  @guarded(breaker, { fallback: (): User => ({ id: 'cached' }) })
  async withFallback(id: string): Promise<User> {
    return { id };
  }

  // @ts-expect-error the fallback must return the method's result
  @guarded(breaker, { fallback: () => 42 })
  async wrongFallback(id: string): Promise<User> {
    return { id };
  }

  // @ts-expect-error only async methods (returning a promise) can be guarded
  @guarded(breaker)
  syncMethod(id: string): User {
    return { id };
  }
}
