/** Thrown (or given to `fallback`) when a call's concurrency limiter has no free slot; the call was not made. */
export class ConcurrencyLimitError extends Error {
  override readonly name = 'ConcurrencyLimitError';

  constructor(
    /** the limit in force when the call was refused */
    readonly limit: number,
    /** the calls in flight then */
    readonly inFlight: number,
  ) {
    super(`concurrency limit reached: ${inFlight} calls in flight, limit ${limit}; call not made`);
  }
}
