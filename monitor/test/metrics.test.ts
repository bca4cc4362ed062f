/**
 * Metrics listen to the breaker and to call results; read back through the Prometheus text format.
 */
import { register as globalRegistry } from 'prom-client';
import { AdaptiveLimiter, CircuitBreaker, FixedLimiter, type BreakerOptions } from '@circuit-breaker-demo/breaker';
import { Metrics } from '../src/metrics';
import { FakeClock } from './support/fake-clock';
import { parsePrometheus, sampleValue, type Sample } from './support/prometheus-text';

const OPTIONS = { errorThreshold: 2, successThreshold: 1, openWindowMs: 10_000, halfOpenMaxCalls: 1 } satisfies BreakerOptions;

function setup(): { clock: FakeClock; breaker: CircuitBreaker; metrics: Metrics } {
  const clock = new FakeClock();
  const breaker = new CircuitBreaker({ ...OPTIONS, clock });
  return { clock, breaker, metrics: new Metrics(breaker) };
}

async function scrape(metrics: Metrics): Promise<Sample[]> {
  return parsePrometheus(await metrics.text());
}

function fail(breaker: CircuitBreaker): void {
  const admission = breaker.tryAcquire();
  if (!admission.admitted) throw new Error('not admitted');
  breaker.record(admission.ticket, { ok: false, reason: 'test' });
}

const stateOf = (samples: Sample[]): Record<string, number> =>
  Object.fromEntries(samples.filter((s) => s.name === 'circuit_breaker_state').map((s) => [s.labels.state, s.value]));

it('every series exists from the start, at zero, and the state gauge says closed', async () => {
  const { metrics } = setup();
  const samples = await scrape(metrics);
  expect(stateOf(samples)).toEqual({ closed: 1, open: 0, half_open: 0, isolated: 0 });
  for (const source of ['probe', 'proxy']) {
    for (const outcome of ['success', 'failure', 'late', 'rejected', 'busy', 'overloaded', 'aborted']) {
      expect(sampleValue(samples, 'circuit_breaker_calls_total', { source, outcome })).toBe(0);
    }
    expect(sampleValue(samples, 'circuit_breaker_rejected_calls_total', { source, state: 'open' })).toBe(0);
    expect(sampleValue(samples, 'circuit_breaker_call_duration_seconds_count', { source })).toBe(0);
  }
  const moves = [
    ['closed', 'open'],
    ['open', 'half_open'],
    ['half_open', 'open'],
    ['half_open', 'closed'],
    ['closed', 'isolated'],
    ['open', 'isolated'],
    ['half_open', 'isolated'],
    ['isolated', 'closed'],
    ['open', 'closed'],
  ] as const;
  for (const [from, to] of moves) expect(sampleValue(samples, 'circuit_breaker_transitions_total', { from, to })).toBe(0);
  for (const source of ['probe', 'proxy']) {
    expect(sampleValue(samples, 'circuit_breaker_rejected_calls_total', { source, state: 'isolated' })).toBe(0);
  }
});

it('shows an isolated circuit in the state gauge, and counts the manual moves', async () => {
  const { breaker, metrics } = setup();
  breaker.isolate();
  let samples = await scrape(metrics);
  expect(stateOf(samples)).toEqual({ closed: 0, open: 0, half_open: 0, isolated: 1 });
  expect(sampleValue(samples, 'circuit_breaker_transitions_total', { from: 'closed', to: 'isolated' })).toBe(1);
  breaker.reset();
  samples = await scrape(metrics);
  expect(stateOf(samples)).toEqual({ closed: 1, open: 0, half_open: 0, isolated: 0 });
  expect(sampleValue(samples, 'circuit_breaker_transitions_total', { from: 'isolated', to: 'closed' })).toBe(1);
});

it('the state gauge follows the transitions, one series per state, and transitions are counted by from and to', async () => {
  const { clock, breaker, metrics } = setup();
  fail(breaker);
  fail(breaker);
  expect(stateOf(await scrape(metrics))).toEqual({ closed: 0, open: 1, half_open: 0, isolated: 0 });

  clock.advance(10_000);
  breaker.advance();
  expect(stateOf(await scrape(metrics))).toEqual({ closed: 0, open: 0, half_open: 1, isolated: 0 });

  fail(breaker);
  clock.advance(10_000);
  breaker.advance();
  const admission = breaker.tryAcquire();
  if (admission.admitted) breaker.record(admission.ticket, { ok: true });
  const samples = await scrape(metrics);
  expect(stateOf(samples)).toEqual({ closed: 1, open: 0, half_open: 0, isolated: 0 });
  expect(sampleValue(samples, 'circuit_breaker_transitions_total', { from: 'closed', to: 'open' })).toBe(1);
  expect(sampleValue(samples, 'circuit_breaker_transitions_total', { from: 'open', to: 'half_open' })).toBe(2);
  expect(sampleValue(samples, 'circuit_breaker_transitions_total', { from: 'half_open', to: 'open' })).toBe(1);
  expect(sampleValue(samples, 'circuit_breaker_transitions_total', { from: 'half_open', to: 'closed' })).toBe(1);
});

it('counts call outcomes by source, rejections by state, and observes latency in seconds', async () => {
  const { metrics } = setup();
  metrics.callEnded('proxy', 'success', 0.0004);
  metrics.callEnded('proxy', 'success', 0.002);
  metrics.callEnded('proxy', 'failure', 2);
  metrics.callEnded('proxy', 'aborted');
  metrics.callEnded('proxy', 'busy');
  metrics.callRejected('proxy', 'open');
  metrics.callRejected('proxy', 'half_open');
  metrics.callRejected('proxy', 'half_open');
  let samples = await scrape(metrics);
  expect(sampleValue(samples, 'circuit_breaker_calls_total', { source: 'proxy', outcome: 'success' })).toBe(2);
  expect(sampleValue(samples, 'circuit_breaker_calls_total', { source: 'proxy', outcome: 'failure' })).toBe(1);
  expect(sampleValue(samples, 'circuit_breaker_calls_total', { source: 'proxy', outcome: 'aborted' })).toBe(1);
  expect(sampleValue(samples, 'circuit_breaker_calls_total', { source: 'proxy', outcome: 'busy' })).toBe(1);
  expect(sampleValue(samples, 'circuit_breaker_calls_total', { source: 'proxy', outcome: 'rejected' })).toBe(3);
  expect(sampleValue(samples, 'circuit_breaker_rejected_calls_total', { source: 'proxy', state: 'open' })).toBe(1);
  expect(sampleValue(samples, 'circuit_breaker_rejected_calls_total', { source: 'proxy', state: 'half_open' })).toBe(2);
  expect(sampleValue(samples, 'circuit_breaker_calls_total', { source: 'probe', outcome: 'success' })).toBe(0);
  // latency: only calls that reached the upstream
  expect(sampleValue(samples, 'circuit_breaker_call_duration_seconds_count', { source: 'proxy' })).toBe(3);
  expect(sampleValue(samples, 'circuit_breaker_call_duration_seconds_bucket', { source: 'proxy', le: '0.0005' })).toBe(1);
  expect(sampleValue(samples, 'circuit_breaker_call_duration_seconds_bucket', { source: 'proxy', le: '0.0025' })).toBe(2);
  expect(sampleValue(samples, 'circuit_breaker_call_duration_seconds_bucket', { source: 'proxy', le: '+Inf' })).toBe(3);
  expect(sampleValue(samples, 'circuit_breaker_call_duration_seconds_sum', { source: 'proxy' })).toBeCloseTo(2.0024, 6);

  // counters keep counting across scrapes, without counting twice
  metrics.callEnded('proxy', 'success', 0.001);
  samples = await scrape(metrics);
  expect(sampleValue(samples, 'circuit_breaker_calls_total', { source: 'proxy', outcome: 'success' })).toBe(3);
  expect(metrics.callTotals().proxy).toEqual({ success: 3, failure: 1, late: 0, rejected: 3, busy: 1, overloaded: 0, aborted: 1, fallback: 0 });
});

it('the calls help text says what each outcome covers, the proxy answers that end as aborted included', async () => {
  const { metrics } = setup();
  const help = (await metrics.text()).split('\n').find((line) => line.startsWith('# HELP circuit_breaker_calls_total '));
  expect(help).toBeDefined();
  for (const words of ['success', 'failure', 'late', 'rejected', 'busy (proxy: every upstream connection in use: 503', 'aborted (admitted, then ended without an outcome']) {
    expect(help).toContain(words);
  }
  // what the proxy answers when a call ends as aborted
  for (const answer of ['408 body not received in time', '413 chunked body over the size limit', '400 request not forwardable', '504 total time up', 'client gone', 'shutdown']) {
    expect(help).toContain(answer);
  }
});

describe('concurrency limit (MAX_CONCURRENT_CALLS)', () => {
  it('gauges the limit and the calls in flight of each route that has one; a route without a limit has neither series', async () => {
    const clock = new FakeClock();
    const fixed = new FixedLimiter({ limit: 3, clock });
    const adaptive = new AdaptiveLimiter({ clock });
    const metrics = new Metrics([
      { name: 'catalog', breaker: new CircuitBreaker({ ...OPTIONS, clock }), limiter: fixed },
      { name: 'reviews', breaker: new CircuitBreaker({ ...OPTIONS, clock }), limiter: adaptive },
      { name: 'search', breaker: new CircuitBreaker({ ...OPTIONS, clock }) },
    ]);
    fixed.tryAcquire();
    fixed.tryAcquire();
    adaptive.tryAcquire();
    const samples = await scrape(metrics);
    const series = (name: string) => Object.fromEntries(samples.filter((s) => s.name === name).map((s) => [s.labels.route, s.value]));
    expect(series('circuit_breaker_concurrency_limit')).toEqual({ catalog: 3, reviews: 10 });
    expect(series('circuit_breaker_concurrency_in_flight')).toEqual({ catalog: 2, reviews: 1 });
    fixed.release(5, 'success');
    expect(sampleValue(await scrape(metrics), 'circuit_breaker_concurrency_in_flight', { route: 'catalog' })).toBe(1);
  });

  it('has no limit gauges at all when no route has a limit', async () => {
    const { metrics } = setup();
    const text = await metrics.text();
    expect(text).not.toContain('circuit_breaker_concurrency_');
  });

  it('counts overloaded calls as their own outcome, and both kinds of overload rejection by reason', async () => {
    const { metrics } = setup();
    let samples = await scrape(metrics);
    expect(sampleValue(samples, 'circuit_breaker_overload_rejections_total', { reason: 'concurrency_limit' })).toBe(0);
    expect(sampleValue(samples, 'circuit_breaker_overload_rejections_total', { reason: 'connections' })).toBe(0);
    metrics.callEnded('proxy', 'overloaded');
    metrics.callEnded('proxy', 'overloaded');
    metrics.callEnded('proxy', 'busy');
    samples = await scrape(metrics);
    expect(sampleValue(samples, 'circuit_breaker_calls_total', { source: 'proxy', outcome: 'overloaded' })).toBe(2);
    expect(sampleValue(samples, 'circuit_breaker_overload_rejections_total', { route: 'default', reason: 'concurrency_limit' })).toBe(2);
    expect(sampleValue(samples, 'circuit_breaker_overload_rejections_total', { route: 'default', reason: 'connections' })).toBe(1);
    // a second scrape adds nothing new
    samples = await scrape(metrics);
    expect(sampleValue(samples, 'circuit_breaker_overload_rejections_total', { reason: 'concurrency_limit' })).toBe(2);
  });
});

it('each Metrics has its own registry; the global one stays empty', async () => {
  const a = setup();
  const b = setup();
  a.metrics.callEnded('proxy', 'success', 0.001);
  expect(sampleValue(await scrape(a.metrics), 'circuit_breaker_calls_total', { source: 'proxy', outcome: 'success' })).toBe(1);
  expect(sampleValue(await scrape(b.metrics), 'circuit_breaker_calls_total', { source: 'proxy', outcome: 'success' })).toBe(0);
  expect(await globalRegistry.metrics()).not.toContain('circuit_breaker');
});

it('stops following the breaker after close()', async () => {
  const { breaker, metrics } = setup();
  metrics.close();
  fail(breaker);
  fail(breaker);
  expect(stateOf(await scrape(metrics))).toEqual({ closed: 1, open: 0, half_open: 0, isolated: 0 });
});

it('adds the process metrics when asked', async () => {
  const { breaker } = setup();
  const metrics = new Metrics(breaker, { defaultMetrics: true });
  const samples = await scrape(metrics);
  expect(samples.some((sample) => sample.name === 'process_cpu_seconds_total')).toBe(true);
  expect(samples.some((sample) => sample.name === 'circuit_breaker_state')).toBe(true);
});
