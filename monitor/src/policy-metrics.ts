/**
 * Gauges for the trip and recovery policies, read from each route's breaker snapshot at each
 * scrape: the failure rate over the sliding window, the seconds until the trial and the open
 * window in force.
 */
import { Gauge, type Registry } from 'prom-client';
import type { BreakerSnapshot, CircuitBreaker } from '@circuit-breaker-demo/breaker';

/** Sets `gauge` for every route from its breaker's snapshot. */
function fromSnapshots(gauge: Gauge<'route'>, routes: readonly { name: string; breaker: CircuitBreaker }[], value: (snapshot: BreakerSnapshot) => number): void {
  for (const { name, breaker } of routes) gauge.set({ route: name }, value(breaker.snapshot()));
}

export function registerPolicyGauges(registry: Registry, routes: readonly { name: string; breaker: CircuitBreaker }[]): void {
  const registers = [registry];
  const labelNames = ['route'] as const;
  const rate = new Gauge({
    name: 'circuit_breaker_failure_rate',
    help: 'Share of failures (0-1) among the calls in the sliding window; 0 while it is empty or FAILURE_RATE_THRESHOLD is off',
    labelNames,
    registers,
    collect(): void {
      fromSnapshots(rate, routes, ({ window }) => (window === undefined || window.calls === 0 ? 0 : window.failures / window.calls));
    },
  });
  const calls = new Gauge({
    name: 'circuit_breaker_window_calls',
    help: 'Calls in the sliding window of the failure rate (0 when FAILURE_RATE_THRESHOLD is off)',
    labelNames,
    registers,
    collect(): void {
      fromSnapshots(calls, routes, ({ window }) => window?.calls ?? 0);
    },
  });
  const untilTrial = new Gauge({
    name: 'circuit_breaker_seconds_until_trial',
    help: 'While open: seconds until the circuit admits a trial; 0 otherwise',
    labelNames,
    registers,
    collect(): void {
      fromSnapshots(untilTrial, routes, ({ msUntilTrial }) => msUntilTrial / 1000);
    },
  });
  const window = new Gauge({
    name: 'circuit_breaker_open_window_seconds',
    help: 'The open window in force: while open, this window (backed off, or set by a Retry-After); otherwise the next opening would get',
    labelNames,
    registers,
    collect(): void {
      fromSnapshots(window, routes, ({ openWindowMs }) => openWindowMs / 1000);
    },
  });
}
