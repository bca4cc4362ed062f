import type { Rejection } from '../breaker';

/** Thrown (or given to `fallback`) when the circuit does not admit a call; the call was not made. */
export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError';
  /** the state that refused the call */
  readonly state: Rejection['state'];
  /** ms until the circuit admits a trial; 0 while half_open (every trial slot taken) */
  readonly retryAfterMs: number;

  constructor(rejection: Pick<Rejection, 'state' | 'retryAfterMs'>) {
    super(
      rejection.state === 'open'
        ? `circuit open: call not made; trial in ${Math.ceil(rejection.retryAfterMs)} ms`
        : 'circuit half_open: every trial slot is taken; call not made',
    );
    this.state = rejection.state;
    this.retryAfterMs = rejection.retryAfterMs;
  }
}
