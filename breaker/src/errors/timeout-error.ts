/** The reason a call's signal is aborted with, and the error it fails with, when it outlives `timeoutMs`. */
export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';

  constructor(
    /** the limit the call outlived, ms */
    readonly timeoutMs: number,
  ) {
    super(`timeout after ${timeoutMs} ms`);
  }
}
