/**
 * Running a call through a breaker: admission, the timeout, the caller's cancellation, what counts
 * as a failure, and the fallback. The breaker decides; this only reports to it. Two forms: `execute`
 * resolves with the call's value and rejects with its error (or a CircuitOpenError), `tryExecute`
 * always resolves, to a value that says how the call ended (no error object per rejection).
 */
import type { CircuitBreaker, Outcome, Rejection, Ticket } from './breaker';
import { CircuitOpenError } from './errors/circuit-open-error';
import { TimeoutError } from './errors/timeout-error';

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
  /** answers instead of the error, for a rejection (a CircuitOpenError) or a counted failure */
  readonly fallback?: (error: unknown) => T | PromiseLike<T>;
}

/** The function a breaker runs: it gets a signal that aborts on timeout or on the caller's cancellation. */
export type Guardable<T> = (signal: AbortSignal) => T | PromiseLike<T>;

/** How a call ended, for `tryExecute`. */
export type CallResult<T> =
  | { readonly kind: 'value'; readonly value: T }
  | { readonly kind: 'error'; readonly error: unknown }
  /** not admitted: the function was not called (retryAfterMs as on CircuitOpenError) */
  | { readonly kind: 'rejected'; readonly state: Rejection['state']; readonly retryAfterMs: number | undefined };

/**
 * Given to calls that nothing can abort (no timeout, no caller signal): one shared signal instead of
 * an AbortController per call. It never aborts, so a listener added to it must be removed by its owner.
 */
const NEVER_ABORTED = new AbortController().signal;

/** Runs `fn` if the breaker admits it; see CallOptions. Rejects with a CircuitOpenError, without calling `fn`, when it does not. */
export async function execute<T>(breaker: CircuitBreaker, fn: Guardable<T>, options: CallOptions<T> = {}): Promise<T> {
  options.signal?.throwIfAborted();
  const admission = breaker.tryAcquire();
  if (!admission.admitted) {
    const error = new CircuitOpenError(admission);
    if (options.fallback) return options.fallback(error);
    throw error;
  }
  if (options.timeoutMs === undefined && options.signal === undefined) {
    // the common case, kept to one await: nothing can end the call but the call itself
    let value: T;
    try {
      value = await fn(NEVER_ABORTED);
    } catch (error) {
      if (!countError(breaker, admission.ticket, error, options)) throw error;
      if (options.fallback) return options.fallback(error);
      throw error;
    }
    countValue(breaker, admission.ticket, value, options);
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
  if (options.timeoutMs === undefined && options.signal === undefined) {
    let value: T;
    try {
      value = await fn(NEVER_ABORTED);
    } catch (error) {
      countError(breaker, admission.ticket, error, options);
      return { kind: 'error', error };
    }
    countValue(breaker, admission.ticket, value, options);
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
    let timer: ReturnType<typeof setTimeout> | undefined;
    let open = true;
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
        breaker.record(ticket, { ok: false, reason: error.message });
        end({ kind: 'error', error, counted: true });
        controller.abort(error);
      }, timeoutMs);
    }
    let pending: PromiseLike<T> | T;
    try {
      pending = fn(controller.signal);
    } catch (error) {
      end({ kind: 'error', error, counted: countError(breaker, ticket, error, options) });
      return;
    }
    Promise.resolve(pending).then(
      (value) => {
        if (!open) return;
        countValue(breaker, ticket, value, options);
        end({ kind: 'value', value });
      },
      (error: unknown) => {
        if (!open) return;
        end({ kind: 'error', error, counted: countError(breaker, ticket, error, options) });
      },
    );
  });
}

const SUCCESS: Outcome = { ok: true };

function countValue<T>(breaker: CircuitBreaker, ticket: Ticket, value: T, options: CallOptions<T>): void {
  const reason = options.resultFailure?.(value);
  breaker.record(ticket, reason === undefined ? SUCCESS : failure(reason, value, options));
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
