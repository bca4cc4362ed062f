/**
 * Running a call through a breaker: admission, the timeout, the caller's cancellation, what counts
 * as a failure, and the fallback; and, with a limiter, its slot. The breaker and the limiter decide;
 * this only reports to them. Two forms: `execute` resolves with the call's value and rejects with
 * its error (or a CircuitOpenError, a ConcurrencyLimitError), `tryExecute` always resolves, to a
 * value that says how the call ended (no error object per rejection).
 */
import type { CircuitBreaker, Outcome, Rejection, Ticket } from './breaker';
import { CircuitOpenError } from './errors/circuit-open-error';
import { ConcurrencyLimitError } from './errors/concurrency-limit-error';
import { TimeoutError } from './errors/timeout-error';
import type { CallEnd, ConcurrencyLimiter } from './limiter/limiter';

/** How `execute`, `tryExecute`, `wrap` and `@guarded` run a call: every option may be left out. */
export interface CallOptions<T> {
  /**
   * ms the call may take; then its signal is aborted with a TimeoutError, the call counts as a
   * failure and the caller gets the TimeoutError (or the fallback). Default: no limit.
   */
  readonly timeoutMs?: number;
  /** the caller's own cancellation: aborting it aborts the call, counts nothing and rejects with its reason */
  readonly signal?: AbortSignal;
  /** which errors count as failures; an error it returns false for reaches the caller uncounted. Default: every error */
  readonly isFailure?: (error: unknown) => boolean;
  /** a reason when a value counts as a failure (an HTTP 503 answer, say); the value still reaches the caller */
  readonly resultFailure?: (value: T) => string | undefined;
  /**
   * ms a counted failure asks the circuit to stay open (an upstream's Retry-After): given the error,
   * or the value `resultFailure` flagged. Used when that failure opens the circuit (see the
   * breaker's honorRetryAfter). Slow calls need nothing here: the breaker times every call it admits.
   */
  readonly retryAfterMs?: (failure: unknown) => number | undefined;
  /** answers instead of the error, for a rejection (a CircuitOpenError, a ConcurrencyLimitError) or a counted failure */
  readonly fallback?: (error: unknown) => T | PromiseLike<T>;
  /**
   * a cap on calls in flight (a FixedLimiter, an AdaptiveLimiter, one per route): without a free
   * slot the call is not made and is refused at once with a ConcurrencyLimitError; a call the
   * circuit rejects never takes a slot. The slot is given back when `fn` has settled (after a
   * timeout, once it has honoured the abort), with its latency on the limiter's clock and how it
   * ended: success, failure (counted, or flagged by resultFailure), timeout, or dropped (cancelled
   * by the caller, or an error isFailure lets through).
   */
  readonly limiter?: ConcurrencyLimiter;
}

/** The function a breaker runs: it gets a signal that aborts on timeout or on the caller's cancellation. */
export type Guardable<T> = (signal: AbortSignal) => T | PromiseLike<T>;

/** How a call ended, for `tryExecute`. */
export type CallResult<T> =
  | { readonly kind: 'value'; readonly value: T }
  | { readonly kind: 'error'; readonly error: unknown }
  /** not admitted: the function was not called (retryAfterMs as on CircuitOpenError) */
  | { readonly kind: 'rejected'; readonly state: Rejection['state']; readonly retryAfterMs: number | undefined }
  /** not made: the limiter had no free slot (as on ConcurrencyLimitError) */
  | { readonly kind: 'overloaded'; readonly limit: number; readonly inFlight: number };

/**
 * Given to calls that nothing can abort (no timeout, no caller signal): one shared signal instead of
 * an AbortController per call. It never aborts, so a listener added to it must be removed by its owner.
 * Making it has no effect outside it: a call marked pure, so a bundler may drop it when unused
 * (reading `.signal` off a bare `new` would not count as pure: a getter could do anything).
 */
const NEVER_ABORTED: AbortSignal = /* @__PURE__ */ (() => new AbortController().signal)();

/**
 * Runs `fn` if the breaker admits it (and the limiter has a slot); see CallOptions. Rejects with a
 * CircuitOpenError (a ConcurrencyLimitError), without calling `fn`, when it does not.
 */
export async function execute<T>(breaker: CircuitBreaker, fn: Guardable<T>, options: CallOptions<T> = {}): Promise<T> {
  options.signal?.throwIfAborted();
  const admission = breaker.tryAcquire();
  if (!admission.admitted) {
    const error = new CircuitOpenError(admission);
    if (options.fallback) return options.fallback(error);
    throw error;
  }
  const limiter = options.limiter;
  if (limiter !== undefined && !limiter.tryAcquire()) {
    breaker.release(admission.ticket);
    const error = new ConcurrencyLimitError(limiter.limit, limiter.inFlight);
    if (options.fallback) return options.fallback(error);
    throw error;
  }
  if (options.timeoutMs === undefined && options.signal === undefined) {
    // the common case, kept to one await: nothing can end the call but the call itself
    const startedAt = limiter === undefined ? 0 : limiter.clock.now();
    let value: T;
    try {
      value = await fn(NEVER_ABORTED);
    } catch (error) {
      const counted = countError(breaker, admission.ticket, error, options);
      freeSlot(limiter, startedAt, counted ? 'failure' : 'dropped');
      if (!counted) throw error;
      if (options.fallback) return options.fallback(error);
      throw error;
    }
    freeSlot(limiter, startedAt, countValue(breaker, admission.ticket, value, options));
    return value;
  }
  const ended = await bounded(breaker, admission.ticket, fn, options);
  if (ended.kind === 'value') return ended.value;
  if (ended.counted && options.fallback) return options.fallback(ended.error);
  throw ended.error;
}

/** Like `execute`, but always resolves: to the value, the error, or the rejection (no error object made for it). */
export async function tryExecute<T>(breaker: CircuitBreaker, fn: Guardable<T>, options: Omit<CallOptions<T>, 'fallback'> = {}): Promise<CallResult<T>> {
  if (options.signal?.aborted) return { kind: 'error', error: options.signal.reason };
  const admission = breaker.tryAcquire();
  if (!admission.admitted) return { kind: 'rejected', state: admission.state, retryAfterMs: admission.retryAfterMs };
  const limiter = options.limiter;
  if (limiter !== undefined && !limiter.tryAcquire()) {
    breaker.release(admission.ticket);
    return { kind: 'overloaded', limit: limiter.limit, inFlight: limiter.inFlight };
  }
  if (options.timeoutMs === undefined && options.signal === undefined) {
    const startedAt = limiter === undefined ? 0 : limiter.clock.now();
    let value: T;
    try {
      value = await fn(NEVER_ABORTED);
    } catch (error) {
      freeSlot(limiter, startedAt, countError(breaker, admission.ticket, error, options) ? 'failure' : 'dropped');
      return { kind: 'error', error };
    }
    freeSlot(limiter, startedAt, countValue(breaker, admission.ticket, value, options));
    return { kind: 'value', value };
  }
  const ended = await bounded(breaker, admission.ticket, fn, options);
  return ended.kind === 'value' ? ended : { kind: 'error', error: ended.error };
}

/** How a bounded call ended; `counted` when its error was counted as a failure (the fallback may answer). */
type Ended<T> = { readonly kind: 'value'; readonly value: T } | { readonly kind: 'error'; readonly error: unknown; readonly counted: boolean };

/** Runs an admitted call that a timeout or the caller's signal may end first. */
function bounded<T>(breaker: CircuitBreaker, ticket: Ticket, fn: Guardable<T>, options: CallOptions<T>): Promise<Ended<T>> {
  return new Promise((resolve) => {
    const controller = new AbortController();
    const caller = options.signal;
    const limiter = options.limiter;
    const startedAt = limiter === undefined ? 0 : limiter.clock.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let open = true;
    /** how the call ended when the timeout or the caller ended it first: its slot is freed so when fn settles */
    let endedAs: CallEnd = 'dropped';
    /** the first ending wins; the others find the call closed */
    const end = (ended: Ended<T>): void => {
      open = false;
      if (timer !== undefined) clearTimeout(timer);
      caller?.removeEventListener('abort', onCancel);
      resolve(ended);
    };
    const onCancel = (): void => {
      if (!open) return;
      breaker.release(ticket);
      controller.abort(caller?.reason);
      end({ kind: 'error', error: caller?.reason, counted: false });
    };
    caller?.addEventListener('abort', onCancel, { once: true });
    if (options.timeoutMs !== undefined) {
      const timeoutMs = options.timeoutMs;
      timer = setTimeout(() => {
        if (!open) return;
        const error = new TimeoutError(timeoutMs);
        endedAs = 'timeout';
        breaker.record(ticket, { ok: false, reason: error.message });
        end({ kind: 'error', error, counted: true });
        controller.abort(error);
      }, timeoutMs);
    }
    let pending: PromiseLike<T> | T;
    try {
      pending = fn(controller.signal);
    } catch (error) {
      const counted = countError(breaker, ticket, error, options);
      freeSlot(limiter, startedAt, counted ? 'failure' : 'dropped');
      end({ kind: 'error', error, counted });
      return;
    }
    Promise.resolve(pending).then(
      (value) => {
        if (!open) return freeSlot(limiter, startedAt, endedAs);
        freeSlot(limiter, startedAt, countValue(breaker, ticket, value, options));
        end({ kind: 'value', value });
      },
      (error: unknown) => {
        if (!open) return freeSlot(limiter, startedAt, endedAs);
        const counted = countError(breaker, ticket, error, options);
        freeSlot(limiter, startedAt, counted ? 'failure' : 'dropped');
        end({ kind: 'error', error, counted });
      },
    );
  });
}

const SUCCESS: Outcome = { ok: true };

/** Records a value: a success, or a failure when `resultFailure` gives a reason; says which, for the limiter. */
function countValue<T>(breaker: CircuitBreaker, ticket: Ticket, value: T, options: CallOptions<T>): 'success' | 'failure' {
  const reason = options.resultFailure?.(value);
  breaker.record(ticket, reason === undefined ? SUCCESS : failure(reason, value, options));
  return reason === undefined ? 'success' : 'failure';
}

/** Gives a call's slot back to its limiter, if it has one: the time since `startedAt` on its clock, and how it ended. */
function freeSlot(limiter: ConcurrencyLimiter | undefined, startedAt: number, end: CallEnd): void {
  if (limiter === undefined) return;
  const now = limiter.clock.now();
  limiter.release(now - startedAt, end, now);
}

function failure(reason: string, cause: unknown, options: Pick<CallOptions<unknown>, 'retryAfterMs'>): Outcome {
  const retryAfterMs = options.retryAfterMs?.(cause);
  return retryAfterMs === undefined ? { ok: false, reason } : { ok: false, reason, retryAfterMs };
}

/** Records a failure, or gives the ticket back when `isFailure` lets the error through; true when counted. */
function countError(breaker: CircuitBreaker, ticket: Ticket, error: unknown, options: Pick<CallOptions<unknown>, 'isFailure' | 'retryAfterMs'>): boolean {
  if (options.isFailure && !options.isFailure(error)) {
    breaker.release(ticket);
    return false;
  }
  breaker.record(ticket, failure(reasonOf(error), error, options));
  return true;
}

/** A short reason for an error: its code (ECONNREFUSED), else its message. */
export function reasonOf(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && code !== '') return code;
    if (typeof message === 'string' && message !== '') return message;
  }
  return String(error);
}
