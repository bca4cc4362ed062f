/**
 * GET /events against the real admin server on loopback: the snapshot, transitions and probe
 * results as they happen, per-second call counts, heartbeats (interval timers run by hand), the
 * slow-client drop and the client cap.
 */
import http from 'node:http';
import net from 'node:net';
import { AdaptiveLimiter, FixedLimiter } from '@circuit-breaker-demo/breaker';
import { createProxy } from '../src/proxy/proxy';
import { adminRig, trip, WALL_START, type AdminRig } from './support/admin-rig';
import { startCountingUpstream, status as answerStatus } from './support/counting-upstream';
import { FakeClock } from './support/fake-clock';
import { call } from './support/raw-http';
import { RecordingLogger } from './support/recording-logger';
import { SseClient } from './support/sse-client';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rig(...args: Parameters<typeof adminRig>): Promise<AdminRig> {
  const r = await adminRig(...args);
  cleanups.push(() => r.close());
  return r;
}

async function listen(port: number): Promise<SseClient> {
  const client = await SseClient.connect(port);
  cleanups.push(() => client.close());
  await client.next('snapshot');
  return client;
}

/** Lets the stream's next turn (setImmediate) write what is waiting, and the client read it. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));

describe('the snapshot', () => {
  it('comes first, with retry, what /status shows, the server time and the recent events', async () => {
    const r = await rig();
    trip(r.breaker, 3, 'ECONNREFUSED');
    r.clock.advance(10_000);
    expect(r.breaker.state).toBe('half_open');
    const client = await listen(r.port);

    expect(client.status).toBe(200);
    expect(client.response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(client.response.headers['cache-control']).toBe('no-store');
    expect(client.retry).toBe(1_000);
    expect(client.events.map((event) => event.name)).toEqual(['snapshot']);
    const snapshot = client.events[0]!.data;
    const status = JSON.parse((await call(r.port, { path: '/status' })).body) as Record<string, unknown>;
    expect(snapshot).toMatchObject({ ...status, serverTime: new Date(WALL_START).toISOString(), monitorStartedAt: new Date(WALL_START).toISOString() });
    expect(snapshot.recent).toEqual({
      transitions: [
        {
          at: new Date(WALL_START).toISOString(),
          from: 'closed',
          to: 'open',
          cause: 'failures',
          failures: 3,
          lastReason: 'ECONNREFUSED',
          openForMs: 10_000,
          message: 'Circuit changed from closed to open (3 consecutive failures, last: ECONNREFUSED; trial in 10 s)',
        },
        {
          at: new Date(WALL_START).toISOString(),
          from: 'open',
          to: 'half_open',
          cause: 'window_elapsed',
          message: 'Circuit changed from open to half_open (open window ended; sending trial calls)',
        },
      ],
      probes: [],
      calls: [],
    });
    // the one route's entry: its /status entry and the same recent events
    expect(snapshot.routes).toEqual([{ ...(status.routes as object[])[0], recent: snapshot.recent }]);
  });

  it('HEAD answers the headers and holds no client; another method is 405', async () => {
    const r = await rig();
    const head = await call(r.port, { method: 'HEAD', path: '/events' });
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(head.body).toBe('');
    expect(r.admin.events.stats.clients).toBe(0);
    expect((await call(r.port, { method: 'POST', path: '/events' })).status).toBe(405);
  });
});

describe('live events', () => {
  it('a transition is sent on the next turn of the event loop, unprompted by any timer, with the status after it', async () => {
    const r = await rig();
    const client = await listen(r.port);
    trip(r.breaker, 3, 'ENOTFOUND');
    await turn();
    // a heartbeat written after that turn (no timer of the stream has run before it) comes after the transition
    r.intervals.run(15_000);
    await client.until(() => client.comments.length === 1, 'the heartbeat');
    expect(client.received).toEqual(['snapshot', 'transition', `: heartbeat ${new Date(WALL_START).toISOString()}`]);
    const event = client.named('transition')[0]!;
    expect(event.data).toMatchObject({
      from: 'closed',
      to: 'open',
      cause: 'failures',
      failures: 3,
      lastReason: 'ENOTFOUND',
      openForMs: 10_000,
      message: 'Circuit changed from closed to open (3 consecutive failures, last: ENOTFOUND; trial in 10 s)',
      status: { state: 'open', trialInSeconds: 10, counters: { consecutiveFailures: 0 } },
    });
  });

  it('sends each probe result, before the transition it causes, with the counters after it', async () => {
    const r = await rig();
    const client = await listen(r.port);
    r.probeAnswer = { kind: 'failure', reason: 'ECONNREFUSED', latencyMs: 2 };
    r.loop.start();
    await r.timers.tick();
    await client.next('probe', 1);
    expect(client.events[1]!.data).toEqual({
      at: new Date(WALL_START).toISOString(),
      ok: false,
      status: null,
      reason: 'ECONNREFUSED',
      latencyMs: 2,
      route: 'default',
      state: 'closed',
      counters: { consecutiveFailures: 1, consecutiveSuccesses: 0, trialsInFlight: 0 },
    });
    await r.timers.tick();
    await r.timers.tick();
    await client.next('transition');
    expect(client.events.map((event) => event.name)).toEqual(['snapshot', 'probe', 'probe', 'probe', 'transition']);
  });

  it('a flood of proxied calls is one event per sample period, not one per call', async () => {
    const r = await rig();
    const upstream = await startCountingUpstream(answerStatus(200));
    cleanups.push(() => upstream.close());
    const proxy = createProxy({ breaker: r.breaker, logger: new RecordingLogger(), observer: r.metrics, lastOutcome: r.lastOutcome, upstream: upstream.url, requestTimeoutMs: 2_000, acceptClientErrors: false });
    const proxyPort = (await proxy.listen(0, '127.0.0.1')).port;
    cleanups.push(() => proxy.close());
    const client = await listen(r.port);

    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    cleanups.push(() => agent.destroy());
    const replies = await Promise.all(Array.from({ length: 300 }, () => call(proxyPort, { agent })));
    expect(replies.every((reply) => reply.status === 200)).toBe(true);
    await turn();
    expect(client.events.map((event) => event.name)).toEqual(['snapshot']);

    r.wall += 1_000;
    r.intervals.run(1_000);
    const calls = await client.next('calls');
    expect(calls.data).toEqual({ at: new Date(WALL_START + 1_000).toISOString(), seconds: 1, proxy: { success: 300 }, route: 'default' });
    // a quiet period sends nothing
    r.intervals.run(1_000);
    await turn();
    expect(client.events.map((event) => event.name)).toEqual(['snapshot', 'calls']);
  });

  it('sends a heartbeat comment every 15 s while a client listens, and stops when the last one leaves', async () => {
    const r = await rig();
    expect(r.intervals.periods()).toEqual([1_000]);
    const client = await listen(r.port);
    expect(r.intervals.periods()).toEqual([1_000, 15_000]);
    expect(client.comments).toEqual([]);
    r.wall += 15_000;
    r.intervals.run(15_000);
    await client.until(() => client.comments.length === 1, 'the heartbeat');
    expect(client.comments).toEqual([`heartbeat ${new Date(WALL_START + 15_000).toISOString()}`]);
    client.close();
    await client.closed;
    await waitFor(() => r.admin.events.stats.clients === 0, 'the server to see the client leave');
    expect(r.intervals.periods()).toEqual([1_000]);
  });
});

describe('several routes (SPEC "Routes")', () => {
  const several = (events: Parameters<typeof adminRig>[1] = {}) => rig({}, events, { routes: ['catalog', 'reviews'] });

  it("the snapshot has an entry per route with its /status entry and its own recent events, the overall state, and the first route's at the top", async () => {
    const r = await several();
    const [catalog, reviews] = r.routes;
    trip(reviews!.breaker, 3, 'ECONNREFUSED');
    catalog!.lastOutcome.record('probe', { ok: true, status: 200, latencyMs: 4 });
    const client = await listen(r.port);
    type Route = { name: string; state: string; recent: { transitions: { from: string; to: string }[]; probes: unknown[] } };
    const snapshot = client.events[0]!.data as { overall: unknown; state: string; recent: unknown; routes: Route[] };
    expect(snapshot.overall).toEqual({ state: 'open', routesNotClosed: ['reviews'] });
    expect(snapshot.state).toBe('closed');
    expect(snapshot.routes.map((route) => [route.name, route.state])).toEqual([
      ['catalog', 'closed'],
      ['reviews', 'open'],
    ]);
    expect(snapshot.routes[0]!.recent).toEqual({ transitions: [], probes: [{ at: new Date(WALL_START).toISOString(), ok: true, status: 200, reason: null, latencyMs: 4 }], calls: [] });
    expect(snapshot.routes[1]!.recent.transitions.map((t) => `${t.from}->${t.to}`)).toEqual(['closed->open']);
    expect(snapshot.routes[1]!.recent.probes).toEqual([]);
    expect(snapshot.routes[1]!).toMatchObject({ prefix: '/reviews/', trialInSeconds: 10 });
    expect(snapshot.recent).toEqual(snapshot.routes[0]!.recent);
  });

  it("every transition, probe result and count of calls names its route, with that route's state and counts", async () => {
    const r = await several();
    const [catalog, reviews] = r.routes;
    const client = await listen(r.port);
    trip(reviews!.breaker, 3, 'ECONNREFUSED');
    reviews!.lastOutcome.record('probe', { ok: false, reason: 'ECONNREFUSED', latencyMs: 1 });
    catalog!.lastOutcome.record('probe', { ok: true, status: 200, latencyMs: 4 });
    const transition = await client.next('transition');
    expect(transition.data).toMatchObject({ route: 'reviews', from: 'closed', to: 'open', status: { overall: { state: 'open' } } });
    await client.until(() => client.named('probe').length === 2, 'two probes');
    expect(client.named('probe').map((event) => [event.data.route, event.data.state, event.data.ok])).toEqual([
      ['reviews', 'open', false],
      ['catalog', 'closed', true],
    ]);

    r.metrics.route('catalog').callEnded('proxy', 'success', 0.01);
    r.metrics.route('catalog').callEnded('proxy', 'success', 0.01);
    r.metrics.route('reviews').callRejected('proxy', 'open');
    r.wall += 1_000;
    r.intervals.run(1_000);
    await client.until(() => client.named('calls').length === 2, 'the calls of both routes');
    expect(client.named('calls').map((event) => event.data)).toEqual([
      { at: new Date(WALL_START + 1_000).toISOString(), seconds: 1, route: 'catalog', proxy: { success: 2 } },
      { at: new Date(WALL_START + 1_000).toISOString(), seconds: 1, route: 'reviews', proxy: { rejected: 1 } },
    ]);
    // one sampler and one heartbeat, however many routes
    expect(r.intervals.periods()).toEqual([1_000, 15_000]);
  });
});

describe('the concurrency limit (SPEC "Concurrency limit")', () => {
  /** catalog: a fixed limit of 4; reviews: adaptive; ratings: the limit off */
  async function limited(events: Parameters<typeof adminRig>[1] = {}) {
    const clock = new FakeClock();
    const catalog = new FixedLimiter({ limit: 4, clock });
    const reviews = new AdaptiveLimiter({ clock, initialLimit: 10 });
    const r = await rig({}, events, { routes: ['catalog', 'reviews', 'ratings'], limiters: { catalog, reviews } });
    return { r, catalog, reviews };
  }
  const take = (limiter: FixedLimiter | AdaptiveLimiter, n: number): void => {
    for (let i = 0; i < n; i += 1) expect(limiter.tryAcquire()).toBe(true);
  };

  it("the snapshot's entries carry each route's limit and calls in flight, as /status does, and the readings since start of the limited ones", async () => {
    const { r, catalog } = await limited();
    take(catalog, 3);
    const client = await listen(r.port);
    type Route = { name: string; concurrency: unknown; recent: Record<string, unknown> };
    const snapshot = client.events[0]!.data as { routes: Route[] };
    const status = JSON.parse((await call(r.port, { path: '/status' })).body) as { routes: { name: string; concurrency: unknown }[] };
    expect(snapshot.routes.map((route) => [route.name, route.concurrency])).toEqual([
      ['catalog', { mode: 'fixed', limit: 4, inFlight: 3 }],
      ['reviews', { mode: 'adaptive', limit: 10, inFlight: 0 }],
      ['ratings', null],
    ]);
    expect(snapshot.routes.map((route) => route.concurrency)).toEqual(status.routes.map((route) => route.concurrency));
    // read when the stream started (before the three calls): where the page's chart begins
    const at = new Date(WALL_START).toISOString();
    expect(snapshot.routes[0]!.recent.concurrency).toEqual([{ at, limit: 4, inFlight: 0 }]);
    expect(snapshot.routes[1]!.recent.concurrency).toEqual([{ at, limit: 10, inFlight: 0 }]);
    // the limit off: nothing new in its recent events
    expect(Object.keys(snapshot.routes[2]!.recent)).toEqual(['transitions', 'probes', 'calls']);
  });

  it('once a second, each limited route whose limit or calls in flight changed sends them; unchanged or off sends nothing; no call writes anything', async () => {
    const { r, catalog, reviews } = await limited();
    const client = await listen(r.port);
    take(catalog, 4);
    expect(catalog.tryAcquire()).toBe(false);
    take(reviews, 2);
    // nothing on the calls' path: the slots taken are seen by the next sample only
    await turn();
    expect(client.received).toEqual(['snapshot']);

    r.wall += 1_000;
    r.intervals.run(1_000);
    await client.until(() => client.named('concurrency').length === 2, 'two concurrency events');
    const at = new Date(WALL_START + 1_000).toISOString();
    expect(client.named('concurrency').map((event) => event.data)).toEqual([
      { at, limit: 4, inFlight: 4, route: 'catalog', mode: 'fixed' },
      { at, limit: 10, inFlight: 2, route: 'reviews', mode: 'adaptive' },
    ]);
    // a second with no change: nothing
    r.wall += 1_000;
    r.intervals.run(1_000);
    await turn();
    expect(client.named('concurrency')).toHaveLength(2);
    // one call ends on catalog: only catalog sends
    catalog.release(5, 'success');
    r.wall += 1_000;
    r.intervals.run(1_000);
    await client.until(() => client.named('concurrency').length === 3, 'a third concurrency event');
    expect(client.named('concurrency')[2]!.data).toEqual({ at: new Date(WALL_START + 3_000).toISOString(), limit: 4, inFlight: 3, route: 'catalog', mode: 'fixed' });
    // ratings (the limit off) never sent one; one sampler and one heartbeat for everything
    expect(client.named('concurrency').map((event) => event.data.route)).not.toContain('ratings');
    expect(r.intervals.periods()).toEqual([1_000, 15_000]);
  });

  it('keeps a bounded list of readings per route for the next snapshot', async () => {
    const { r, catalog } = await limited({ recentConcurrency: 3 });
    for (let i = 1; i <= 4; i += 1) {
      take(catalog, 1);
      r.wall += 1_000;
      r.intervals.run(1_000);
    }
    const client = await listen(r.port);
    const recent = (client.events[0]!.data as { routes: { recent: { concurrency: { inFlight: number }[] } }[] }).routes[0]!.recent.concurrency;
    expect(recent.map((entry) => entry.inFlight)).toEqual([2, 3, 4]);
  });
});

describe('limits', () => {
  jest.setTimeout(20_000);

  it('drops a client that does not read, before its unsent bytes pass the bound, and keeps serving the others', async () => {
    const maxBufferedBytes = 64 * 1024;
    const r = await rig({}, { maxBufferedBytes });
    const reader = await listen(r.port);
    const slow = net.connect(r.port, '127.0.0.1');
    let slowClosed = false;
    slow.on('close', () => (slowClosed = true));
    slow.on('error', () => undefined);
    slow.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    // it never reads: the kernel's buffers fill, then the server's
    slow.pause();
    await waitFor(() => r.admin.events.stats.clients === 2, 'both clients');

    let largest = 0;
    let sent = 0;
    // one transition with its status is ~1 KB; loopback buffers take a few MB before the server holds any
    for (let batch = 0; batch < 1_000 && r.admin.events.stats.dropped === 0; batch += 1) {
      for (let i = 0; i < 10; i += 1) {
        r.breaker.isolate();
        r.breaker.reset();
        sent += 2;
      }
      await turn();
      largest = Math.max(largest, r.admin.events.stats.bufferedBytes);
    }
    expect(r.admin.events.stats).toMatchObject({ clients: 1, dropped: 1 });
    // never more than the bound plus the one write that crossed it
    expect(largest).toBeLessThan(maxBufferedBytes + 4 * 1024);
    // reading again, it finds what the kernel held, then the end
    slow.resume();
    await waitFor(() => slowClosed, 'the slow client to be cut');
    expect(r.logger.messages().filter((line) => line.includes('events client'))).toEqual([
      expect.stringMatching(/^warn events client 127\.0\.0\.1 dropped: \d+ bytes unsent \(limit 65536\)$/),
    ]);

    // the server holds nothing for it any more, and the reader got every transition
    for (let batch = 0; batch < 5; batch += 1) {
      for (let i = 0; i < 10; i += 1) {
        r.breaker.isolate();
        r.breaker.reset();
        sent += 2;
      }
      await turn();
    }
    await reader.until(() => reader.named('transition').length === sent, `${sent} transitions`, 5_000);
    expect(r.admin.events.stats.bufferedBytes).toBeLessThan(maxBufferedBytes);
  });

  it('a snapshot larger than the bound is sent whole: a client is dropped only for what it fails to read beyond it', async () => {
    const maxBufferedBytes = 64 * 1024;
    const r = await rig({}, { maxBufferedBytes, recentProbes: 100_000 });
    // some 13 MB of snapshot: more than the loopback's buffers take at once
    for (let i = 0; i < 60_000; i += 1) r.lastOutcome.record('probe', { ok: false, reason: 'ECONNREFUSED: a long enough reason', latencyMs: i });
    const socket = net.connect(r.port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => undefined);
    cleanups.push(() => void socket.destroy());
    socket.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    socket.pause();
    await waitFor(() => r.admin.events.stats.clients === 1, 'the client');
    r.breaker.isolate();
    await turn();
    expect(r.admin.events.stats).toMatchObject({ clients: 1, dropped: 0 });
    expect(r.admin.events.stats.bufferedBytes).toBeGreaterThan(maxBufferedBytes);
    socket.resume();
    await waitFor(() => received.includes('event: transition'), 'the snapshot, then the transition', 10_000);
    expect(received).toContain('event: snapshot');
  });

  it('caps the clients: one more gets 503, and a place freed can be taken', async () => {
    const r = await rig({}, { maxClients: 2 });
    const first = await listen(r.port);
    await listen(r.port);
    const refused = await call(r.port, { path: '/events' });
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(JSON.parse(refused.body)).toEqual({ error: 'too many event clients', maxClients: 2 });

    first.close();
    await waitFor(() => r.admin.events.stats.clients === 1, 'the place to be freed');
    const third = await listen(r.port);
    expect(third.status).toBe(200);
  });

  it('close() ends every stream', async () => {
    const r = await rig();
    const client = await listen(r.port);
    await r.admin.close();
    await client.closed;
    expect(r.admin.events.stats.clients).toBe(0);
    expect(r.intervals.periods()).toEqual([]);
  });
});

async function waitFor(condition: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
