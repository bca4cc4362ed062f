/**
 * The trip and recovery policies in the monitor: the probe and the proxy report durations and the
 * upstream's Retry-After (real HTTP on loopback), the loop logs slow calls, /status and /metrics
 * show the window in force and the failure rate. Time is a fake clock or jest's fake timers.
 */
import { CircuitBreaker, type BreakerOptions, type Clock } from '@circuit-breaker-demo/breaker';
import { createAdmin, type Status } from '../src/admin/admin';
import { parseConfig } from '../src/config';
import { LastOutcome } from '../src/last-outcome';
import { Metrics } from '../src/metrics';
import { policyOptions } from '../src/policy-options';
import { ProbeLoop } from '../src/probe/loop';
import { createProbe, type Probe, type ProbeResult } from '../src/probe/probe';
import { createProxy } from '../src/proxy/proxy';
import { logTransition } from '../src/transition-log';
import { startCountingUpstream, type Answer } from './support/counting-upstream';
import { FakeClock } from './support/fake-clock';
import { parsePrometheus, sampleValue } from './support/prometheus-text';
import { call } from './support/raw-http';
import { RecordingLogger } from './support/recording-logger';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const unavailable =
  (retryAfter: string, status = 503): Answer =>
  (_received, res) => {
    res.writeHead(status, { 'content-type': 'application/json', 'retry-after': retryAfter });
    res.end('{}');
  };

describe('the probe reports the Retry-After of a 429 or 503 failure', () => {
  it.each([
    ['5', 503, 5_000],
    ['12', 429, 12_000],
  ])('Retry-After: %s on %i', async (header, code, expected) => {
    const upstream = await startCountingUpstream(unavailable(header, code));
    cleanups.push(() => upstream.close());
    const probe = createProbe({ url: `${upstream.url}/`, timeoutMs: 2_000, acceptClientErrors: false });
    expect(await probe(new AbortController().signal)).toMatchObject({ kind: 'failure', reason: `HTTP ${code}`, status: code, retryAfterMs: expected });
  });

  it('an HTTP date, counted from now', async () => {
    const date = new Date(Date.now() + 30_000).toUTCString();
    const upstream = await startCountingUpstream(unavailable(date));
    cleanups.push(() => upstream.close());
    const probe = createProbe({ url: `${upstream.url}/`, timeoutMs: 2_000, acceptClientErrors: false });
    // "now" is some time while the probe ran: the wait is the date minus a time between these two
    const before = Date.now();
    const result = await probe(new AbortController().signal);
    const after = Date.now();
    expect(result.kind === 'failure' && result.retryAfterMs).toBeGreaterThanOrEqual(Date.parse(date) - after);
    expect(result.kind === 'failure' && result.retryAfterMs).toBeLessThanOrEqual(Date.parse(date) - before);
  });

  it('not on a 500', async () => {
    const upstream = await startCountingUpstream(unavailable('5', 500));
    cleanups.push(() => upstream.close());
    const probe = createProbe({ url: `${upstream.url}/`, timeoutMs: 2_000, acceptClientErrors: false });
    expect(await probe(new AbortController().signal)).not.toHaveProperty('retryAfterMs');
  });
});

describe('the probe loop with the policies', () => {
  const clock: Clock = { now: () => jest.now() };
  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  function loopWith(options: Partial<BreakerOptions>, answers: [ProbeResult, ...ProbeResult[]]) {
    const logger = new RecordingLogger();
    const breaker = new CircuitBreaker({ errorThreshold: 2, successThreshold: 1, openWindowMs: 1_000, clock, ...options });
    breaker.onTransition((transition) => logTransition(logger, transition));
    // the answers in turn; the last one repeats
    const probe: Probe = () => Promise.resolve((answers.length > 1 ? answers.shift() : answers[0])!);
    const loop = new ProbeLoop({ breaker, probe, logger, clock }, { probeIntervalMs: 100, errorThreshold: 2, successThreshold: 1 });
    loop.start();
    cleanups.push(() => loop.stop());
    return { logger, breaker };
  }

  it('a slow success is logged and counted as a failure with the slow reason, and opens the circuit', async () => {
    const slow: ProbeResult = { kind: 'success', status: 200, latencyMs: 1_800 };
    const { logger } = loopWith({ slowCallThresholdMs: 1_000 }, [slow, slow]);
    await jest.advanceTimersByTimeAsync(150);
    expect(logger.messages().slice(0, 3)).toEqual([
      'warn probe failed: slow: 1800 ms (HTTP 200) (1/2 consecutive failures)',
      'warn probe failed: slow: 1800 ms (HTTP 200) (2/2 consecutive failures)',
      'warn Circuit changed from closed to open (2 consecutive failures, last: slow: 1800 ms; trial in 1 s)',
    ]);
  });

  it("a 503 with Retry-After keeps the circuit open that long: the loop's trial comes when it ends", async () => {
    const busy: ProbeResult = { kind: 'failure', reason: 'HTTP 503', status: 503, latencyMs: 2, retryAfterMs: 5_000 };
    const { logger } = loopWith({}, [busy, busy, { kind: 'success', status: 200, latencyMs: 1 }]);
    await jest.advanceTimersByTimeAsync(150);
    expect(logger.messages()).toContain('warn probe failed: HTTP 503 in 2 ms, Retry-After 5 s (2/2 consecutive failures)');
    expect(logger.messages()).toContain("warn Circuit changed from closed to open (2 consecutive failures, last: HTTP 503; trial in 5 s, as the upstream's Retry-After asked)");
    await jest.advanceTimersByTimeAsync(4_800);
    expect(logger.messages().filter((m) => m.includes('half_open'))).toEqual([]);
    await jest.advanceTimersByTimeAsync(200);
    expect(logger.messages()).toContain('info Circuit changed from open to half_open (open window ended; sending trial calls)');
  });

  it('repeated trial failures show a growing trial in N s, up to TIME_WINDOW_MAX', async () => {
    const refused: ProbeResult = { kind: 'failure', reason: 'ECONNREFUSED', latencyMs: 1 };
    const { logger } = loopWith({ maxOpenWindowMs: 4_000, jitter: 0 }, [refused]);
    await jest.advanceTimersByTimeAsync(10_000); // opens at 0.1 s, reopens at 1.1, 3.1 and 7.1 s
    expect(logger.messages().filter((m) => m.includes('to open'))).toEqual([
      'warn Circuit changed from closed to open (2 consecutive failures, last: ECONNREFUSED; trial in 1 s)',
      'warn Circuit changed from half_open to open (trial failed: ECONNREFUSED; trial in 2 s)',
      'warn Circuit changed from half_open to open (trial failed: ECONNREFUSED; trial in 4 s)',
      'warn Circuit changed from half_open to open (trial failed: ECONNREFUSED; trial in 4 s)',
    ]);
  });
});

describe('the proxy with the policies', () => {
  async function proxyRig(options: Partial<BreakerOptions>, answer: Answer) {
    const clock = new FakeClock();
    const breaker = new CircuitBreaker({ errorThreshold: 1, successThreshold: 1, openWindowMs: 1_000, clock, ...options });
    const logger = new RecordingLogger();
    breaker.onTransition((transition) => logTransition(logger, transition));
    const upstream = await startCountingUpstream(answer);
    const proxy = createProxy({ breaker, logger, upstream: upstream.url, requestTimeoutMs: 2_000, acceptClientErrors: false });
    const { port } = await proxy.listen(0, '127.0.0.1');
    cleanups.push(() => upstream.close(), () => proxy.close());
    return { clock, breaker, logger, port, upstream };
  }

  it("passes an upstream 503 on, opens for its Retry-After, and its own 503 says the time left of that window", async () => {
    const { clock, logger, port, upstream } = await proxyRig({}, unavailable('5'));
    const first = await call(port);
    expect(first.status).toBe(503);
    expect(first.headers['retry-after']).toBe('5'); // the upstream's own answer, passed through
    expect(logger.messages()).toContain("warn Circuit changed from closed to open (1 consecutive failures, last: HTTP 503; trial in 5 s, as the upstream's Retry-After asked)");
    clock.advance(1_500);
    const rejected = await call(port);
    expect(rejected.status).toBe(503);
    expect(rejected.headers['retry-after']).toBe('4');
    expect(JSON.parse(rejected.body)).toEqual({ error: 'circuit open', state: 'open', retryAfterSeconds: 4 });
    expect(upstream.requests).toBe(1);
  });

  it('an answer slower than the threshold counts as a failure with the slow reason', async () => {
    const { breaker, logger, port } = await proxyRig({ slowCallThresholdMs: 50, errorThreshold: 2 }, (_received, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('late');
      }, 120);
    });
    const reply = await call(port);
    expect(reply.status).toBe(200); // the client still gets the answer
    expect(breaker.snapshot().consecutiveFailures).toBe(1);
    expect(logger.messages()).toEqual([expect.stringMatching(/^warn proxy call failed: GET \/: slow: \d+ ms \(1 consecutive failures\)$/)]);
  });
});

describe('/status and /metrics', () => {
  async function adminRig(env: Record<string, string>) {
    const parsed = parseConfig({ HTTP_CLIENT: '127.0.0.1:9', TIME_WINDOW: '1', ...env });
    if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
    const config = parsed.config;
    const clock = new FakeClock();
    const breaker = new CircuitBreaker({ errorThreshold: config.errorThreshold, successThreshold: 1, openWindowMs: config.timeWindowMs, clock, jitter: 0, ...policyOptions(config) });
    const metrics = new Metrics(breaker);
    const logger = new RecordingLogger();
    const probe: Probe = () => Promise.resolve({ kind: 'success', status: 200, latencyMs: 1 });
    const loop = new ProbeLoop({ breaker, probe, logger, clock }, config);
    const admin = createAdmin({ breaker, loop, lastOutcome: new LastOutcome(), metrics, config, logger, clock });
    const { port } = await admin.listen(0, '127.0.0.1');
    cleanups.push(() => admin.close());
    const record = (ok: boolean) => {
      const admission = breaker.tryAcquire();
      if (admission.admitted) breaker.record(admission.ticket, ok ? { ok: true } : { ok: false, reason: 'HTTP 500' });
    };
    const status = async () => JSON.parse((await call(port, { path: '/status' })).body) as Status;
    const scrape = async () => parsePrometheus((await call(port, { path: '/metrics' })).body);
    return { clock, breaker, record, status, scrape };
  }

  it('show the failure rate and the call count of the window', async () => {
    const r = await adminRig({ FAILURE_RATE_THRESHOLD: '50', SLIDING_WINDOW: '20', MINIMUM_CALLS: '10', ERROR_THRESHOLD: '100' });
    for (const ok of [true, false, true, true, false]) r.record(ok);
    expect(await r.status()).toMatchObject({ state: 'closed', failureRate: { calls: 5, failures: 2, percent: 40 }, openWindowSeconds: 1 });
    expect((await r.status()).config).toMatchObject({ FAILURE_RATE_THRESHOLD: 50, SLIDING_WINDOW: 20, MINIMUM_CALLS: 10 });
    const samples = await r.scrape();
    expect(sampleValue(samples, 'circuit_breaker_failure_rate')).toBe(0.4);
    expect(sampleValue(samples, 'circuit_breaker_window_calls')).toBe(5);
  });

  it('show the window in force and the seconds until the trial while a backed-off window runs', async () => {
    const r = await adminRig({ ERROR_THRESHOLD: '1', TIME_WINDOW_MAX: '8' });
    r.record(false); // open, 1 s
    r.clock.advance(1_000);
    r.record(false); // trial failed: 2 s
    r.clock.advance(500);
    expect(await r.status()).toMatchObject({ state: 'open', trialInSeconds: 1.5, openWindowSeconds: 2, failureRate: null });
    const samples = await r.scrape();
    expect(sampleValue(samples, 'circuit_breaker_seconds_until_trial')).toBe(1.5);
    expect(sampleValue(samples, 'circuit_breaker_open_window_seconds')).toBe(2);
    expect(sampleValue(samples, 'circuit_breaker_failure_rate')).toBe(0);
  });
});


describe('the configuration as breaker options', () => {
  const configOf = (env: Record<string, string>) => {
    const parsed = parseConfig({ HTTP_CLIENT: 'nginx:80', ...env });
    if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
    return parsed.config;
  };

  it('the defaults add no policy: no rate, no slow calls, a longest window of TIME_WINDOW', () => {
    expect(policyOptions(configOf({ TIME_WINDOW: '3' }))).toEqual({ maxOpenWindowMs: 3_000, honorRetryAfter: true });
  });

  it('passes every policy variable on', () => {
    expect(
      policyOptions(
        configOf({ SLOW_CALL_THRESHOLD: '1.5', FAILURE_RATE_THRESHOLD: '50', SLIDING_WINDOW: '60s', MINIMUM_CALLS: '5', TIME_WINDOW_MAX: '80', HONOR_RETRY_AFTER: 'false' }),
      ),
    ).toEqual({
      maxOpenWindowMs: 80_000,
      honorRetryAfter: false,
      slowCallThresholdMs: 1_500,
      failureRateThreshold: 50,
      minimumCalls: 5,
      slidingWindow: { timeMs: 60_000 },
    });
  });

  it('with the defaults, every reopening gets TIME_WINDOW exactly, whatever the random source says', () => {
    const clock = new FakeClock();
    const config = configOf({ ERROR_THRESHOLD: '1', TIME_WINDOW: '2' });
    const breaker = new CircuitBreaker({ errorThreshold: 1, openWindowMs: config.timeWindowMs, clock, random: () => 0.99, ...policyOptions(config) });
    const windows: number[] = [];
    breaker.onTransition((t) => t.openForMs !== undefined && windows.push(t.openForMs));
    for (let i = 0; i < 4; i += 1) {
      const admission = breaker.tryAcquire();
      if (admission.admitted) breaker.record(admission.ticket, { ok: false, reason: 'ECONNREFUSED', durationMs: 60_000 });
      clock.advance(2_000);
    }
    expect(windows).toEqual([2_000, 2_000, 2_000, 2_000]);
  });
});
