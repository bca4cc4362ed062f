import type { CircuitBreaker, Outcome, RecordResult, Ticket } from '../../src';

/** A ticket for a call the test expects to be admitted; throws with the state that refused it otherwise. */
export function acquire(breaker: CircuitBreaker): Ticket {
  const admission = breaker.tryAcquire();
  if (!admission.admitted) throw new Error(`expected a ticket, got a rejection while ${admission.state}`);
  return admission.ticket;
}

/** One admitted call that ends with `outcome`. */
export const call = (breaker: CircuitBreaker, outcome: Outcome): RecordResult => breaker.record(acquire(breaker), outcome);
