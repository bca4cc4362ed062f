import type { Rejection } from '../breaker';

/** Thrown (or given to `fallback`) when the circuit does not admit a call; the call was not made. */
export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError';
  /** the state that refused the call */
  readonly state: Rejection['state'];
  /**
   * ms until the circuit admits a trial; 0 while half_open (every trial slot is taken, one frees
   * when a trial ends); undefined while isolated (no trial until someone calls reset()).
   */
  readonly retryAfterMs: number | undefined;

  constructor(rejection: Pick<Rejection, 'state' | 'retryAfterMs'>) {
    super(message(rejection));
    this.state = rejection.state;
    this.retryAfterMs = rejection.retryAfterMs;
  }
}

function message({ state, retryAfterMs }: Pick<Rejection, 'state' | 'retryAfterMs'>): string {
  switch (state) {
    case 'open':
      return `circuit open: call not made; trial in ${Math.ceil(retryAfterMs ?? 0)} ms`;
    case 'half_open':
      return 'circuit half_open: every trial slot is taken; call not made';
    case 'isolated':
      return 'circuit isolated: call not made; no trial until reset()';
  }
}
