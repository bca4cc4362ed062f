/**
 * Gauges for the trip and recovery policies, read from the breaker's snapshot at each scrape: the
 * failure rate over the sliding window, the seconds until the trial and the open window in force.
 */
import { Gauge, type Registry } from 'prom-client';
import type { CircuitBreaker } from '@circuit-breaker-demo/breaker';

export function registerPolicyGauges(registry: Registry, breaker: CircuitBreaker): void {
  const registers = [registry];
  const rate = new Gauge({
    name: 'circuit_breaker_failure_rate',
    help: 'Share of failures (0-1) among the calls in the sliding window; 0 while it is empty or FAILURE_RATE_THRESHOLD is off',
    registers,
    collect(): void {
      const window = breaker.snapshot().window;
      rate.set(window === undefined || window.calls === 0 ? 0 : window.failures / window.calls);
    },
  });
  const calls = new Gauge({
    name: 'circuit_breaker_window_calls',
    help: 'Calls in the sliding window of the failure rate (0 when FAILURE_RATE_THRESHOLD is off)',
    registers,
    collect(): void {
      calls.set(breaker.snapshot().window?.calls ?? 0);
    },
  });
  const untilTrial = new Gauge({
    name: 'circuit_breaker_seconds_until_trial',
    help: 'While open: seconds until the circuit admits a trial; 0 otherwise',
    registers,
    collect(): void {
      untilTrial.set(breaker.snapshot().msUntilTrial / 1000);
    },
  });
  const window = new Gauge({
    name: 'circuit_breaker_open_window_seconds',
    help: 'The open window in force: while open, this window (backed off, or set by a Retry-After); otherwise the next opening would get',
    registers,
    collect(): void {
      window.set(breaker.snapshot().openWindowMs / 1000);
    },
  });
}
