/**
 * The admin API on real loopback HTTP, with the real probe loop (its timers run by hand) and a
 * fake clock.
 */
import type http from 'node:http';
import type { Status } from '../src/admin/admin';
import { CLIENT_LIMITS } from '../src/client-limits';
import { describeConfig } from '../src/config';
import { createProxy } from '../src/proxy/proxy';
import { startCountingUpstream, status as answerStatus } from './support/counting-upstream';
import { adminRig, trip, WALL_START, type AdminRig } from './support/admin-rig';
import { parsePrometheus, sampleValue, type Sample } from './support/prometheus-text';
import { call, rawExchange, type Reply } from './support/raw-http';
import { RecordingLogger } from './support/recording-logger';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rig(env: Record<string, string> = {}): Promise<AdminRig> {
  const r = await adminRig(env);
  cleanups.push(() => r.close());
  return r;
}

const statusOf = async (port: number): Promise<Status> => JSON.parse((await call(port, { path: '/status' })).body) as Status;

async function scrape(port: number): Promise<Sample[]> {
  const reply = await call(port, { path: '/metrics' });
  expect(reply.status).toBe(200);
  return parsePrometheus(reply.body);
}

describe('/status', () => {
  it('shows the closed state, counters, no last outcome or probe yet, and the effective configuration', async () => {
    const { port, config } = await rig();
    const status = await statusOf(port);
    expect(status).toEqual({
      state: 'closed',
      since: '2023-11-14T22:13:20.000Z',
      secondsInState: 0,
      trialInSeconds: null,
      counters: { consecutiveFailures: 0, consecutiveSuccesses: 0, trialsInFlight: 0 },
      openWindowSeconds: 10,
      failureRate: null,
      calls: {
        probe: { success: 0, failure: 0, late: 0, rejected: 0, busy: 0, overloaded: 0, aborted: 0, fallback: 0 },
        proxy: { success: 0, failure: 0, late: 0, rejected: 0, busy: 0, overloaded: 0, aborted: 0, fallback: 0 },
      },
      lastOutcome: null,
      lastProbe: null,
      concurrency: null,
      loop: { running: false, secondsSinceActivity: 0 },
      config: describeConfig(config),
      overall: { state: 'closed', routesNotClosed: [] },
      routes: [
        {
          name: 'default',
          prefix: '/',
          upstream: 'http://127.0.0.1:9',
          state: 'closed',
          since: '2023-11-14T22:13:20.000Z',
          secondsInState: 0,
          trialInSeconds: null,
          counters: { consecutiveFailures: 0, consecutiveSuccesses: 0, trialsInFlight: 0 },
          openWindowSeconds: 10,
          failureRate: null,
          calls: {
            probe: { success: 0, failure: 0, late: 0, rejected: 0, busy: 0, overloaded: 0, aborted: 0, fallback: 0 },
            proxy: { success: 0, failure: 0, late: 0, rejected: 0, busy: 0, overloaded: 0, aborted: 0, fallback: 0 },
          },
          lastOutcome: null,
          lastProbe: null,
          concurrency: null,
          settings: { errorThreshold: 3, successThreshold: 3, halfOpenMaxCalls: 1, timeWindow: 10, maxConcurrentCalls: 'off' },
        },
      ],
    });
    expect(status.config).toMatchObject({ HTTP_CLIENT: 'http://127.0.0.1:9', TIME_WINDOW: 10, ADMIN_PORT: 8081 });
  });

  it('while open: since as a wall-clock date from the monotonic clock, and the seconds until the trial', async () => {
    const r = await rig();
    r.clock.advance(1_000);
    r.wall += 1_000;
    trip(r.breaker, 3);
    r.clock.advance(2_500);
    r.wall += 2_500;
    const status = await statusOf(r.port);
    const open = { state: 'open', since: new Date(WALL_START + 1_000).toISOString(), secondsInState: 2.5, trialInSeconds: 7.5, openWindowSeconds: 10 };
    expect(status).toMatchObject(open);
    // the route's entry says the same: with several routes the page has only it
    expect(status.routes[0]).toMatchObject(open);
  });

  it("with several routes, each entry has its own time in state, window, failure rate and settings", async () => {
    const r = await adminRig({ FAILURE_RATE_THRESHOLD: '50', SLIDING_WINDOW: '10', MINIMUM_CALLS: '4', MAX_CONCURRENT_CALLS: '4' }, {}, { routes: ['catalog', 'reviews'] });
    cleanups.push(() => r.close());
    r.clock.advance(1_000);
    r.wall += 1_000;
    trip(r.routes[1]!.breaker, 3);
    // catalog: one failure in three calls, under the 50 % that would open it
    trip(r.routes[0]!.breaker, 1);
    for (let i = 0; i < 2; i += 1) {
      const admission = r.routes[0]!.breaker.tryAcquire();
      if (admission.admitted) r.routes[0]!.breaker.record(admission.ticket, { ok: true });
    }
    r.clock.advance(4_000);
    r.wall += 4_000;
    const status = await statusOf(r.port);
    const settings = { errorThreshold: 3, successThreshold: 3, halfOpenMaxCalls: 1, timeWindow: 10, maxConcurrentCalls: 4 };
    const shown = status.routes.map(({ name, state, secondsInState, trialInSeconds, openWindowSeconds, failureRate, settings: own }) => ({
      name,
      state,
      secondsInState,
      trialInSeconds,
      openWindowSeconds,
      failureRate,
      settings: own,
    }));
    expect(shown).toEqual([
      { name: 'catalog', state: 'closed', secondsInState: 5, trialInSeconds: null, openWindowSeconds: 10, failureRate: { calls: 3, failures: 1, percent: 33.3 }, settings },
      // the window is emptied by the transition
      { name: 'reviews', state: 'open', secondsInState: 4, trialInSeconds: 6, openWindowSeconds: 10, failureRate: { calls: 0, failures: 0, percent: 0 }, settings },
    ]);
  });

  it('shows the last probe outcome and the consecutive failures', async () => {
    const r = await rig();
    r.probeAnswer = { kind: 'failure', reason: 'ECONNREFUSED', latencyMs: 2 };
    r.loop.start();
    await r.timers.tick();
    const status = await statusOf(r.port);
    expect(status.lastProbe).toEqual({ at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), ok: false, status: null, reason: 'ECONNREFUSED', latencyMs: 2 });
    expect(status.counters.consecutiveFailures).toBe(1);
    expect(status.calls.probe.failure).toBe(1);

    r.probeAnswer = { kind: 'success', status: 204, latencyMs: 1 };
    await r.timers.tick();
    expect((await statusOf(r.port)).lastProbe).toMatchObject({ ok: true, status: 204, reason: null });
  });

  it('the last outcome comes from either source: proxied failures that open the circuit show there, not the earlier probe', async () => {
    const r = await rig();
    // '/slow' waits for the test; everything else is a 500
    let slow: http.ServerResponse | undefined;
    const upstream = await startCountingUpstream((received, res) => {
      if (received.url === '/slow') slow = res;
      else answerStatus(500)(received, res);
    });
    cleanups.push(() => upstream.close());
    const proxy = createProxy({
      breaker: r.breaker,
      logger: new RecordingLogger(),
      observer: r.metrics,
      lastOutcome: r.lastOutcome,
      upstream: upstream.url,
      requestTimeoutMs: 2_000,
      acceptClientErrors: false,
    });
    const proxyPort = (await proxy.listen(0, '127.0.0.1')).port;
    cleanups.push(() => proxy.close());

    r.loop.start();
    await r.timers.tick();
    expect((await statusOf(r.port)).lastOutcome).toEqual({ source: 'probe', at: '2023-11-14T22:13:20.000Z', ok: true, status: 200, reason: null, latencyMs: 3 });

    r.wall += 1_500;
    const inFlight = call(proxyPort, { path: '/slow' });
    // if an assertion fails first, the call is cut at cleanup: no second failure
    inFlight.catch(() => undefined);
    while (slow === undefined) await new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 3; i += 1) expect((await call(proxyPort)).status).toBe(500);
    const opened = await statusOf(r.port);
    expect(opened.state).toBe('open');
    expect(opened.lastOutcome).toEqual({
      source: 'proxy',
      at: '2023-11-14T22:13:21.500Z',
      ok: false,
      status: 500,
      reason: 'HTTP 500',
      latencyMs: expect.any(Number) as number,
    });
    // the probe's own line still shows the stale success
    expect(opened.lastProbe).toMatchObject({ ok: true, status: 200 });

    // a late success changed nothing, so it is not the last outcome
    r.wall += 1_000;
    slow.writeHead(200);
    slow.end();
    expect((await inFlight).status).toBe(200);
    const after = await statusOf(r.port);
    expect(after.calls.proxy).toMatchObject({ failure: 3, late: 1 });
    expect(after.lastOutcome).toEqual(opened.lastOutcome);
  });
});

describe('/healthz', () => {
  it('is 503 before the loop runs, 200 while it runs, 503 when it is stuck, 200 again when it moves, 503 once stopped', async () => {
    const r = await rig();
    const health = async (): Promise<Reply> => call(r.port, { path: '/healthz' });

    expect((await health()).status).toBe(503);
    expect(JSON.parse((await health()).body)).toMatchObject({ status: 'unhealthy', reason: 'probe loop stopped' });

    r.loop.start();
    await r.timers.tick();
    expect((await health()).status).toBe(200);
    expect(JSON.parse((await health()).body)).toMatchObject({ status: 'ok' });

    // a live loop is never quiet longer than PROBE_INTERVAL + REQUEST_TIMEOUT (+ 1 s margin)
    r.clock.advance(5_000);
    expect((await health()).status).toBe(200);
    r.clock.advance(1);
    const stuck = await health();
    expect(stuck.status).toBe(503);
    expect(JSON.parse(stuck.body).reason).toMatch(/^probe loop stuck: no activity for 5\.001 s/);

    await r.timers.tick();
    expect((await health()).status).toBe(200);

    await r.loop.stop();
    expect((await health()).status).toBe(503);
  });

  it('reports the monitor, not the upstream: 200 while the circuit is open', async () => {
    const r = await rig();
    r.probeAnswer = { kind: 'failure', reason: 'ECONNREFUSED', latencyMs: 1 };
    r.loop.start();
    for (let i = 0; i < 3; i += 1) await r.timers.tick();
    expect(r.breaker.state).toBe('open');
    expect((await call(r.port, { path: '/healthz' })).status).toBe(200);
  });
});

describe('/metrics', () => {
  it('is the Prometheus text format', async () => {
    const { port } = await rig();
    const reply = await call(port, { path: '/metrics' });
    expect(reply.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(reply.body).toContain('# TYPE circuit_breaker_state gauge');
    expect(reply.body).toContain('# TYPE circuit_breaker_transitions_total counter');
    expect(reply.body).toContain('# TYPE circuit_breaker_call_duration_seconds histogram');
    expect(() => parsePrometheus(reply.body)).not.toThrow();
  });

  it('the state gauge follows the transitions and the counters follow probe and proxy calls', async () => {
    const r = await rig({ SUCCESS_THRESHOLD: '1' });
    const upstream = await startCountingUpstream(answerStatus(500));
    cleanups.push(() => upstream.close());
    const proxy = createProxy({
      breaker: r.breaker,
      logger: new RecordingLogger(),
      observer: r.metrics,
      upstream: upstream.url,
      requestTimeoutMs: 2_000,
      acceptClientErrors: false,
    });
    const proxyPort = (await proxy.listen(0, '127.0.0.1')).port;
    cleanups.push(() => proxy.close());

    let samples = await scrape(r.port);
    expect(sampleValue(samples, 'circuit_breaker_state', { state: 'closed' })).toBe(1);

    // one probe failure and two proxy failures open the circuit
    r.probeAnswer = { kind: 'failure', reason: 'HTTP 500', status: 500, latencyMs: 4 };
    r.loop.start();
    await r.timers.tick();
    await call(proxyPort);
    await call(proxyPort);
    expect((await call(proxyPort)).status).toBe(503);
    samples = await scrape(r.port);
    expect(sampleValue(samples, 'circuit_breaker_state', { state: 'closed' })).toBe(0);
    expect(sampleValue(samples, 'circuit_breaker_state', { state: 'open' })).toBe(1);
    expect(sampleValue(samples, 'circuit_breaker_transitions_total', { from: 'closed', to: 'open' })).toBe(1);
    expect(sampleValue(samples, 'circuit_breaker_calls_total', { source: 'probe', outcome: 'failure' })).toBe(1);
    expect(sampleValue(samples, 'circuit_breaker_calls_total', { source: 'proxy', outcome: 'failure' })).toBe(2);
    expect(sampleValue(samples, 'circuit_breaker_calls_total', { source: 'proxy', outcome: 'rejected' })).toBe(1);
    expect(sampleValue(samples, 'circuit_breaker_rejected_calls_total', { source: 'proxy', state: 'open' })).toBe(1);
    expect(sampleValue(samples, 'circuit_breaker_call_duration_seconds_count', { source: 'proxy' })).toBe(2);
    expect(sampleValue(samples, 'circuit_breaker_call_duration_seconds_count', { source: 'probe' })).toBe(1);

    // the window ends; a successful trial through the proxy closes the circuit
    r.clock.advance(10_000);
    upstream.answer(answerStatus(200));
    expect((await call(proxyPort)).status).toBe(200);
    samples = await scrape(r.port);
    expect(sampleValue(samples, 'circuit_breaker_state', { state: 'closed' })).toBe(1);
    expect(sampleValue(samples, 'circuit_breaker_transitions_total', { from: 'open', to: 'half_open' })).toBe(1);
    expect(sampleValue(samples, 'circuit_breaker_transitions_total', { from: 'half_open', to: 'closed' })).toBe(1);
    expect(sampleValue(samples, 'circuit_breaker_calls_total', { source: 'proxy', outcome: 'success' })).toBe(1);
  });
});

describe('other requests', () => {
  it('an unknown path is a 404 with a JSON body', async () => {
    const { port } = await rig();
    const reply = await call(port, { path: '/nope' });
    expect(reply.status).toBe(404);
    expect(JSON.parse(reply.body)).toMatchObject({ error: 'not found' });
  });

  it('another method is a 405 with Allow', async () => {
    const { port } = await rig();
    const reply = await call(port, { method: 'POST', path: '/status', body: '{}' });
    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe('GET, HEAD');
    expect(JSON.parse(reply.body)).toEqual({ error: 'method not allowed' });
  });

  it('refuses a request with two Host headers with 400 (RFC 9112 section 3.2)', async () => {
    const { port } = await rig();
    const { text } = await rawExchange(port, 'GET /status HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n');
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(text).toContain('more than one Host header');
  });

  it(
    "cuts off silent and slow header senders by the proxy's limits (10 s), not Node's 30 s check",
    async () => {
      const { port } = await rig();
      const [silent, slow] = await Promise.all([rawExchange(port, '', 20_000), rawExchange(port, 'GET /status HTTP/1.1\r\nHost: x\r\n', 20_000)]);
      expect(slow.text).toMatch(/^HTTP\/1\.1 408 /);
      for (const { ms } of [silent, slow]) {
        expect(ms).toBeGreaterThanOrEqual(CLIENT_LIMITS.headersTimeoutMs - 100);
        // cut at Node's first check past the header time (10-11 s): 2 s more is room for a loaded
        // machine, and still far from the 30 s of Node's own check interval
        expect(ms).toBeLessThan(CLIENT_LIMITS.headersTimeoutMs + 2 * CLIENT_LIMITS.connectionsCheckingIntervalMs + 1_000);
      }
    },
    25_000,
  );

  it('HEAD answers without a body, and a query string is ignored', async () => {
    const { port } = await rig();
    const head = await call(port, { method: 'HEAD', path: '/status' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect((await call(port, { path: '/status?pretty=1' })).status).toBe(200);
  });
});
