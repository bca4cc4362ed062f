/**
 * The guarded reverse proxy on real loopback HTTP: a counting upstream behind it, a fake clock
 * in the breaker.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { CircuitBreaker, type BreakerOptions } from '@circuit-breaker-demo/breaker';
import { ProbeLoop } from '../src/probe/loop';
import type { Timers } from '../src/timers';
import { Metrics } from '../src/metrics';
import { createProbe } from '../src/probe/probe';
import { createProxy, type ProxyOptions } from '../src/proxy/proxy';
import type { ServerHandle } from '../src/server-handle';
import { echo, startCountingUpstream, status, type CountingUpstream, type Received } from './support/counting-upstream';
import { FakeClock } from './support/fake-clock';
import { closedPort } from './support/http-server';
import { call, rawExchange, type Reply } from './support/raw-http';
import { RecordingLogger } from './support/recording-logger';

interface Rig {
  readonly clock: FakeClock;
  readonly breaker: CircuitBreaker;
  readonly logger: RecordingLogger;
  readonly metrics: Metrics;
  readonly upstream: CountingUpstream;
  readonly proxy: ServerHandle;
  readonly port: number;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const BREAKER = { errorThreshold: 3, successThreshold: 3, openWindowMs: 10_000, halfOpenMaxCalls: 1 } satisfies BreakerOptions;

async function rig(
  options: { breaker?: Partial<BreakerOptions>; proxy?: Partial<ProxyOptions>; basePath?: string; upstreamUrl?: string } = {},
): Promise<Rig> {
  const clock = new FakeClock();
  const breaker = new CircuitBreaker({ ...BREAKER, ...options.breaker, clock });
  const logger = new RecordingLogger();
  const metrics = new Metrics(breaker);
  const upstream = await startCountingUpstream();
  cleanups.push(() => upstream.close());
  const proxy = createProxy({
    breaker,
    logger,
    observer: metrics,
    upstream: options.upstreamUrl ?? `${upstream.url}${options.basePath ?? ''}`,
    requestTimeoutMs: 2_000,
    acceptClientErrors: false,
    ...options.proxy,
  });
  const { port } = await proxy.listen(0, '127.0.0.1');
  cleanups.push(() => proxy.close());
  return { clock, breaker, logger, metrics, upstream, proxy, port };
}

/** Opens the circuit the way calls do: errorThreshold failures in a row. */
function trip(breaker: CircuitBreaker, failures = BREAKER.errorThreshold): void {
  for (let i = 0; i < failures; i += 1) {
    const admission = breaker.tryAcquire();
    if (!admission.admitted) throw new Error('circuit already open');
    breaker.record(admission.ticket, { ok: false, reason: 'test' });
  }
  expect(breaker.state).toBe('open');
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const echoed = (body: string): Received => JSON.parse(body) as Received;

describe('forwarding', () => {
  it('forwards method, path with the base path, query, body and end-to-end headers, and passes the answer back', async () => {
    const { port, upstream } = await rig({ basePath: '/base' });
    const reply = await call(port, {
      method: 'POST',
      path: '/orders/42?expand=items&q=a%20b',
      headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'abc-123', Accept: 'application/json', 'X-Multi': ['one', 'two'] },
      body: '{"qty":2}',
    });
    expect(reply.status).toBe(200);
    expect(reply.headers['x-upstream']).toBe('yes');
    const seen = echoed(reply.body);
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe('/base/orders/42?expand=items&q=a%20b');
    expect(seen.body).toBe('{"qty":2}');
    expect(seen.headers).toMatchObject({
      'content-type': 'application/json',
      'x-request-id': 'abc-123',
      accept: 'application/json',
      'content-length': '9',
      host: `127.0.0.1:${upstream.port}`,
    });
    // repeated headers stay repeated, in order
    const multi = seen.rawHeaders.flatMap((name, i) => (i % 2 === 0 && name.toLowerCase() === 'x-multi' ? [seen.rawHeaders[i + 1]] : []));
    expect(multi).toEqual(['one', 'two']);
  });

  it.each(['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])('forwards %s', async (method) => {
    const { port, upstream } = await rig();
    const reply = await call(port, { method, path: '/thing' });
    expect(reply.status).toBe(200);
    expect(upstream.received.at(-1)).toMatchObject({ method, url: '/thing' });
  });

  it('forwards a chunked body whole, framed chunked or (when it was all in before it went out) by its length, never both', async () => {
    const { port } = await rig();
    const reply = await call(port, { method: 'PUT', path: '/upload', body: ['first,', 'second,', 'third'] });
    const seen = echoed(reply.body);
    expect(seen.body).toBe('first,second,third');
    // undici chunks a body of unknown length, and gives a body it already holds whole its length
    const framing = [seen.headers['transfer-encoding'], seen.headers['content-length']];
    expect([['chunked', undefined], [undefined, '18']]).toContainEqual(framing);
  });

  it('passes redirects and their Location through without following them', async () => {
    const { port, upstream } = await rig();
    upstream.answer((_received, res) => {
      res.writeHead(302, { location: '/elsewhere' });
      res.end();
    });
    const reply = await call(port, { path: '/old' });
    expect(reply.status).toBe(302);
    expect(reply.headers.location).toBe('/elsewhere');
    expect(upstream.requests).toBe(1);
  });

  it('sends a bodiless request once more when the upstream dropped the kept-alive connection it went out on', async () => {
    // one connection: each call goes out on the one the call before it used
    const { port, upstream, breaker } = await rig({ proxy: { maxSockets: 1 } });
    // every connection answers its first request only, then drops: a keep-alive timeout race every time
    const served = new WeakSet<object>();
    upstream.answer((received, res) => {
      if (res.socket && served.has(res.socket)) {
        res.socket.destroy();
        return;
      }
      if (res.socket) served.add(res.socket);
      echo(received, res);
    });
    expect((await call(port, { path: '/first' })).status).toBe(200);
    expect((await call(port, { path: '/second' })).status).toBe(200);
    expect(upstream.received.map((received) => received.url)).toEqual(['/first', '/second', '/second']);
    expect(breaker.snapshot().consecutiveFailures).toBe(0);

    // a body cannot be replayed: that one fails
    expect((await call(port, { method: 'POST', path: '/third', body: 'once' })).status).toBe(502);
    expect(breaker.snapshot().consecutiveFailures).toBe(1);
  });

  it('reuses upstream connections (keep-alive agent)', async () => {
    const { port, upstream } = await rig();
    for (let i = 0; i < 5; i += 1) expect((await call(port)).status).toBe(200);
    expect(upstream.requests).toBe(5);
    expect(upstream.connections).toBe(1);
  });
});

describe('hop-by-hop headers', () => {
  it('are not forwarded to the upstream, nor any header the Connection header names', async () => {
    const { port } = await rig();
    // a raw request: Node's client refuses to send some of these (Trailer without chunking)
    const { text } = await rawExchange(
      port,
      [
        'GET /hop HTTP/1.1',
        'Host: x',
        'Connection: close, X-Hop-Secret',
        'X-Hop-Secret: only for this hop',
        'Keep-Alive: timeout=30',
        'Proxy-Authorization: Basic c2VjcmV0',
        'Proxy-Connection: keep-alive',
        'TE: trailers',
        'Trailer: X-Checksum',
        'Upgrade: websocket',
        'X-End-To-End: kept',
        '',
        '',
      ].join('\r\n'),
    );
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    const seen = echoed(text.slice(text.indexOf('\r\n\r\n') + 4));
    const names = seen.rawHeaders.filter((_value, i) => i % 2 === 0).map((name) => name.toLowerCase());
    expect(names).toContain('x-end-to-end');
    for (const hop of ['x-hop-secret', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'upgrade']) {
      expect(names).not.toContain(hop);
    }
    // the proxy's own connection to the upstream, kept alive whatever the client asked for its own
    expect(seen.headers.connection).toBe('keep-alive');
  });

  it('are not passed back to the client, nor any header the upstream Connection header names', async () => {
    const { port, upstream } = await rig();
    upstream.answer((_received, res) => {
      res.writeHead(200, [
        'Content-Type', 'text/plain',
        'Connection', 'keep-alive, X-Upstream-Hop',
        'X-Upstream-Hop', 'secret',
        'Keep-Alive', 'timeout=99, max=7',
        'Proxy-Authenticate', 'Basic realm="upstream"',
        'Upgrade', 'h2c',
        'X-End-To-End', 'kept',
      ]);
      res.end('ok');
    });
    const reply = await call(port);
    expect(reply.body).toBe('ok');
    expect(reply.headers['x-end-to-end']).toBe('kept');
    expect(reply.headers['x-upstream-hop']).toBeUndefined();
    expect(reply.headers['proxy-authenticate']).toBeUndefined();
    expect(reply.headers.upgrade).toBeUndefined();
    // Node's own keep-alive hint for the client connection, not the upstream's
    expect(reply.headers['keep-alive'] ?? '').not.toContain('max=7');
  });

  it('a Connection header cannot strip the framing or the headers the proxy sets', async () => {
    const { port } = await rig();
    const reply = await call(port, {
      method: 'POST',
      headers: ['Host', 'x', 'Connection', 'content-length, host, x-forwarded-for', 'Content-Length', '5'],
      body: 'hello',
    });
    const seen = echoed(reply.body);
    expect(seen.body).toBe('hello');
    expect(seen.headers['content-length']).toBe('5');
    expect(seen.headers.host).toBeDefined();
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
  });
});

describe('X-Forwarded-*', () => {
  it('appends the client to X-Forwarded-For and sets -Proto and -Host, replacing what the client claimed', async () => {
    const { port, upstream } = await rig();
    const reply = await call(port, {
      headers: ['Host', 'shop.example.test', 'X-Forwarded-For', '203.0.113.9', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'evil.test'],
    });
    const seen = echoed(reply.body);
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe('shop.example.test');
    expect(seen.headers.host).toBe(`127.0.0.1:${upstream.port}`);
  });

  it('starts X-Forwarded-For with the client when there was none', async () => {
    const { port } = await rig();
    expect(echoed((await call(port)).body).headers['x-forwarded-for']).toBe('127.0.0.1');
  });
});

describe('open circuit', () => {
  it('answers 503 at once with Retry-After in whole seconds until the trial, a JSON body, and no upstream connection', async () => {
    const { port, upstream, breaker, clock, metrics } = await rig();
    trip(breaker);
    clock.advance(2_500);
    const reply = await call(port, { path: '/anything' });
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('8');
    expect(reply.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(reply.body)).toEqual({ error: 'circuit open', state: 'open', retryAfterSeconds: 8 });
    expect(upstream.connections).toBe(0);
    expect(upstream.requests).toBe(0);
    expect(metrics.callTotals().proxy.rejected).toBe(1);
  });

  it('says Retry-After: 1, not 0, in the last second of the window', async () => {
    const { port, breaker, clock } = await rig();
    trip(breaker);
    clock.advance(9_999);
    const reply = await call(port);
    expect(reply.headers['retry-after']).toBe('1');
  });

  it('answers a request with a body without reading it into the upstream', async () => {
    const { port, breaker, upstream } = await rig();
    trip(breaker);
    const reply = await call(port, { method: 'POST', body: 'x'.repeat(10_000) });
    expect(reply.status).toBe(503);
    expect(upstream.connections).toBe(0);
  });

  it('answers 503 without Retry-After while isolated, naming the state, and makes no upstream connection', async () => {
    const { port, upstream, breaker, clock, metrics } = await rig();
    breaker.isolate();
    clock.advance(60_000);
    const reply = await call(port);
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBeUndefined();
    expect(JSON.parse(reply.body)).toEqual({ error: 'circuit isolated', state: 'isolated' });
    expect(upstream.connections).toBe(0);
    expect(metrics.callTotals().proxy.rejected).toBe(1);
  });

  it('forwards again once the window has ended: the proxied call is the trial', async () => {
    const { port, breaker, clock, upstream } = await rig({ breaker: { successThreshold: 1 } });
    trip(breaker);
    clock.advance(10_000);
    const reply = await call(port);
    expect(reply.status).toBe(200);
    expect(upstream.requests).toBe(1);
    expect(breaker.state).toBe('closed');
  });
});

describe('half_open under concurrency', () => {
  it('lets exactly HALF_OPEN_MAX_CALLS requests through and rejects the rest at once with 503, Retry-After and the state', async () => {
    const { port, breaker, clock, upstream, metrics } = await rig({ breaker: { halfOpenMaxCalls: 3 } });
    trip(breaker);
    clock.advance(10_000);
    upstream.hold();
    const replies = Array.from({ length: 50 }, () => call(port, { path: '/trial' }));
    const rejected: Reply[] = [];
    // the held trials are cut when the test ends
    replies.forEach((reply) => void reply.then((r) => rejected.push(r), () => undefined));

    // at once, not held until a trial ends: the trials stay held for the whole test, so every
    // other answer came while they were in flight
    await waitFor(() => upstream.held === 3 && rejected.length === 47, '3 held trials and 47 answers');
    for (const reply of rejected) {
      expect(reply.status).toBe(503);
      expect(reply.headers['retry-after']).toBe('1');
      expect(JSON.parse(reply.body)).toEqual({ error: 'circuit open', state: 'half_open', retryAfterSeconds: 1 });
    }
    expect(upstream.requests).toBe(3);
    expect(breaker.snapshot()).toMatchObject({ state: 'half_open', trialsInFlight: 3 });
    expect(metrics.callTotals().proxy).toMatchObject({ rejected: 47, success: 0, failure: 0 });
  });

  it('results that end after a trial failure re-opened the circuit neither extend the window nor change the state', async () => {
    const { port, breaker, clock, upstream, logger, metrics } = await rig({ breaker: { halfOpenMaxCalls: 3 } });
    trip(breaker);
    clock.advance(10_000);
    upstream.hold();
    const replies = [0, 1, 2].map((i) => call(port, { path: `/trial/${i}` }));
    // a failing assertion leaves some unanswered: they are cut at cleanup, which is no second failure
    for (const reply of replies) reply.catch(() => undefined);
    await waitFor(() => upstream.held === 3, '3 held trials');
    // the held calls, answered one by one below
    const held = new Map<string, http.ServerResponse>();
    upstream.release((received, res) => held.set(received.url, res));
    const answer = (i: number): http.ServerResponse => held.get(`/trial/${i}`)!;

    answer(0).writeHead(500).end();
    expect((await replies[0]!).status).toBe(500);
    expect(breaker.snapshot()).toMatchObject({ state: 'open', msUntilTrial: 10_000 });

    // a late failure, 4 s into the new window: the proxy's own 502
    clock.advance(4_000);
    answer(1).socket!.destroy();
    expect((await replies[1]!).status).toBe(502);
    expect(breaker.snapshot()).toMatchObject({ state: 'open', msUntilTrial: 6_000, consecutiveFailures: 0 });

    // a late success, 1 s later
    clock.advance(1_000);
    answer(2).writeHead(200).end();
    expect((await replies[2]!).status).toBe(200);
    expect(breaker.snapshot()).toMatchObject({ state: 'open', msUntilTrial: 5_000, consecutiveSuccesses: 0 });

    expect(metrics.callTotals().proxy).toMatchObject({ failure: 1, late: 2, success: 0 });
    expect(logger.messages().filter((line) => line.includes('proxy call result ignored'))).toEqual([
      expect.stringMatching(/^debug proxy call result ignored: GET \/trial\/1: ECONNRESET in \d+ ms;/),
      expect.stringMatching(/^debug proxy call result ignored: GET \/trial\/2: ok in \d+ ms;/),
    ]);
  });

  it('frees the trial slot when the client of a trial disconnects, and aborts its upstream call', async () => {
    const { port, breaker, clock, upstream, metrics } = await rig();
    trip(breaker);
    clock.advance(10_000);
    upstream.hold();
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write('GET /gone HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => upstream.held === 1, 'the trial to reach the upstream');
    expect((await call(port)).status).toBe(503);

    socket.destroy();
    await waitFor(() => upstream.abandoned === 1, 'the upstream call to be aborted');
    expect(breaker.snapshot()).toMatchObject({ state: 'half_open', trialsInFlight: 0 });
    expect(metrics.callTotals().proxy.aborted).toBe(1);
    upstream.release(echo);
    expect((await call(port)).status).toBe(200);
  });
  it('holds the trial slot while a trial answer streams, and counts the trial once its body is complete', async () => {
    const { port, breaker, clock, upstream, metrics } = await rig();
    trip(breaker);
    clock.advance(10_000);
    let finish: (() => void) | undefined;
    upstream.answer((received, res) => {
      if (received.url !== '/trial') return echo(received, res);
      res.writeHead(200, { 'content-length': '10' });
      res.write('first');
      finish = () => res.end('-last');
    });
    const client = rawClient(port);
    client.send('GET /trial HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => client.text.endsWith('first'), 'the first part of the trial answer');
    expect(breaker.snapshot()).toMatchObject({ state: 'half_open', trialsInFlight: 1 });
    // the slot is still taken: another call is not a second trial
    expect((await call(port)).status).toBe(503);
    expect(metrics.callTotals().proxy.success).toBe(0);

    finish!();
    await waitFor(() => client.text.endsWith('first-last'), 'the rest of the trial answer');
    await waitFor(() => metrics.callTotals().proxy.success === 1, 'the trial to be counted');
    expect(breaker.snapshot()).toMatchObject({ state: 'half_open', trialsInFlight: 0, consecutiveSuccesses: 1 });
    expect((await call(port)).status).toBe(200);
  });

  it('frees the trial slot without an outcome when the client of a trial leaves while its answer streams', async () => {
    const { port, breaker, clock, upstream, metrics } = await rig();
    trip(breaker);
    clock.advance(10_000);
    upstream.answer((_received, res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('first');
    });
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', () => undefined);
    socket.write('GET /gone HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => text.endsWith('first'), 'the first part of the trial answer');

    socket.destroy();
    await waitFor(() => upstream.abandoned === 1, 'the upstream call to be aborted');
    expect(breaker.snapshot()).toMatchObject({ state: 'half_open', trialsInFlight: 0, consecutiveSuccesses: 0 });
    expect(metrics.callTotals().proxy).toMatchObject({ aborted: 1, success: 0, failure: 0 });
  });

  it('gives back the tickets and timers of pipelined calls at once when a malformed request ends their connection', async () => {
    fakeProxyTime();
    try {
      const { port, breaker, clock, upstream, metrics, proxy } = await rig({ breaker: { halfOpenMaxCalls: 3 } });
      trip(breaker);
      clock.advance(10_000);
      upstream.hold();
      const client = rawClient(port);
      client.send('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => upstream.held === 3, 'the three calls to reach the upstream');
      client.send('NOT HTTP\r\n\r\n');
      await until(() => client.closed, 'the proxy to close the connection');
      expect(client.text).toMatch(/^HTTP\/1\.1 400 /);
      // the two answers queued behind the first never hear from Node that their connection closed
      await until(() => breaker.snapshot().trialsInFlight === 0, 'every trial slot to be given back');
      expect(metrics.callTotals().proxy).toMatchObject({ aborted: 3, success: 0, failure: 0 });
      await until(() => upstream.abandoned === 3, 'the three upstream calls to be aborted');
      // none of their timers is left to hold the process up. Counted once the proxy is closed: its
      // idle upstream connections have keep-alive timers of their own (undici's, unref'd), and closing
      // the server cannot reach the answers queued behind the first, which never had the socket.
      await proxy.close();
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

});

describe('refused requests', () => {
  it('refuses an absolute-form target with 400: it is not an open proxy', async () => {
    const { port, upstream } = await rig();
    const { text } = await rawExchange(port, 'GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n');
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(text).toContain('not an open proxy');
    expect(upstream.connections).toBe(0);
  });

  it('refuses a request with two Host headers with 400 (RFC 9112 section 3.2), without calling the upstream', async () => {
    const { port, upstream, metrics } = await rig();
    const { text } = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: a.example\r\nhost: b.example\r\n\r\n');
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(text).toContain('more than one Host header');
    expect(upstream.connections).toBe(0);
    expect(metrics.callTotals().proxy).toMatchObject({ success: 0, failure: 0, aborted: 0, rejected: 0 });
    expect((await call(port)).status).toBe(200);
  });

  it('refuses CONNECT with 405', async () => {
    const { port, upstream } = await rig();
    const { text } = await rawExchange(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    expect(text).toMatch(/^HTTP\/1\.1 405 /);
    expect(upstream.connections).toBe(0);
  });

  it('answers 413 to a Content-Length over the limit without calling the upstream', async () => {
    const { port, upstream, breaker } = await rig({ proxy: { maxBodyBytes: 1_024 } });
    const reply = await call(port, { method: 'POST', body: 'x'.repeat(2_048) });
    expect(reply.status).toBe(413);
    expect(upstream.connections).toBe(0);
    expect(breaker.snapshot().consecutiveFailures).toBe(0);
  });

  it('answers 413 when a chunked body grows past the limit, aborts the upstream call, and counts no failure', async () => {
    const { port, upstream, breaker, metrics } = await rig({ proxy: { maxBodyBytes: 1_024 } });
    const reply = await call(port, { method: 'POST', body: ['a'.repeat(600), 'b'.repeat(600), 'c'.repeat(600)] });
    expect(reply.status).toBe(413);
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    expect(metrics.callTotals().proxy).toMatchObject({ aborted: 1, failure: 0 });
    // whatever part of it reached the upstream was cut off: only the next call arrives whole
    expect((await call(port, { path: '/after' })).status).toBe(200);
    expect(upstream.received.map((received) => received.url)).toEqual(['/after']);
  });

  it('forwards a chunked body at the limit', async () => {
    const { port } = await rig({ proxy: { maxBodyBytes: 1_024 } });
    const reply = await call(port, { method: 'POST', body: ['a'.repeat(512), 'b'.repeat(512)] });
    expect(reply.status).toBe(200);
    expect(echoed(reply.body).body).toHaveLength(1_024);
  });

  it('cuts off a client that sends its headers too slowly', async () => {
    const { port, upstream } = await rig({ proxy: { headersTimeoutMs: 200, clientRequestTimeoutMs: 400, connectionsCheckingIntervalMs: 20 } });
    // cut by these limits, not the defaults (10 s for the headers): 3 s leaves room for a loaded machine
    const { text } = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n', 3_000);
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(upstream.connections).toBe(0);
  });

  it('survives garbage on the wire and keeps serving', async () => {
    const { port } = await rig();
    const { text } = await rawExchange(port, 'THIS IS NOT HTTP\r\n\r\n');
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect((await call(port)).status).toBe(200);
  });
});

/** A client on a raw socket, so a request can be sent in parts. */
interface RawClient {
  send(data: string): void;
  /** everything the proxy sent back so far */
  readonly text: string;
  readonly closed: boolean;
}

function rawClient(port: number): RawClient {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined);
  cleanups.push(() => void socket.destroy());
  return {
    send: (data) => void socket.write(data),
    get text() {
      return text;
    },
    get closed() {
      return socket.closed;
    },
  };
}

/**
 * Jest's fake timers for the proxy's own setTimeout and performance.now(); the sockets, Node's
 * client time check (setInterval) and promises stay real.
 */
function fakeProxyTime(): void {
  jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'hrtime'] });
}

/** Lets real I/O run until `check` holds, while the fake clock stands still. */
async function until(check: () => boolean, what: string): Promise<void> {
  // hrtime: jest freezes Date along with the timers
  const deadline = process.hrtime.bigint() + 3_000_000_000n;
  while (!check()) {
    if (process.hrtime.bigint() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A few turns of real I/O: long enough for an answer already on its way to arrive. */
async function ioTurns(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

const UPLOAD_HEAD = 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n';

describe('request time limits', () => {
  afterEach(() => jest.useRealTimers());

  it('forwards an upload slower than REQUEST_TIMEOUT and counts the answer: a slow client is not upstream time', async () => {
    fakeProxyTime();
    const { port, upstream, breaker, metrics } = await rig({ proxy: { requestTimeoutMs: 100 } });
    const client = rawClient(port);
    client.send(`${UPLOAD_HEAD}01234`);
    await until(() => upstream.requests === 1, 'the headers to reach the upstream');
    jest.advanceTimersByTime(1_000);
    await ioTurns();
    expect(client.text).toBe('');

    client.send('56789');
    await until(() => client.text.includes('"body":"0123456789"'), 'the answer');
    expect(client.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(breaker.snapshot().consecutiveFailures).toBe(0);
    expect(metrics.callTotals().proxy).toMatchObject({ success: 1, failure: 0, aborted: 0 });
  });

  it('gives the upstream REQUEST_TIMEOUT from when the body was all forwarded, then answers 504 and counts a failure', async () => {
    fakeProxyTime();
    const { port, upstream, breaker, metrics, logger } = await rig({ proxy: { requestTimeoutMs: 100 } });
    upstream.hold();
    const client = rawClient(port);
    client.send(`${UPLOAD_HEAD}01234`);
    await until(() => upstream.requests === 1, 'the headers to reach the upstream');
    jest.advanceTimersByTime(1_000);
    client.send('56789');
    await until(() => upstream.held === 1, 'the whole body to reach the upstream');

    jest.advanceTimersByTime(99);
    await ioTurns();
    expect(client.text).toBe('');
    jest.advanceTimersByTime(1);
    await until(() => client.text.includes('timeout after 100 ms'), 'the 504');
    expect(client.text).toMatch(/^HTTP\/1\.1 504 /);
    expect(breaker.snapshot().consecutiveFailures).toBe(1);
    expect(metrics.callTotals().proxy).toMatchObject({ failure: 1, aborted: 0 });
    expect(logger.messages()).toContainEqual('warn proxy call failed: POST /upload: timeout after 100 ms (1 consecutive failures)');
    await until(() => upstream.abandoned === 1, 'the upstream call to be aborted');
  });

  it('answers 408 and counts nothing when the client does not send its whole request within the client time, however short REQUEST_TIMEOUT', async () => {
    const { port, upstream, breaker, metrics } = await rig({
      proxy: { requestTimeoutMs: 50, headersTimeoutMs: 200, clientRequestTimeoutMs: 400, connectionsCheckingIntervalMs: 20 },
    });
    const started = performance.now();
    const client = rawClient(port);
    client.send(`${UPLOAD_HEAD}01234`);
    await waitFor(() => client.closed, 'the proxy to close the connection');
    // cut by the client time (400 ms), not by REQUEST_TIMEOUT (50 ms)
    expect(performance.now() - started).toBeGreaterThanOrEqual(350);
    expect(client.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(breaker.snapshot().consecutiveFailures).toBe(0);
    expect(metrics.callTotals().proxy).toMatchObject({ aborted: 1, failure: 0 });
    expect(upstream.received).toHaveLength(0);
    await waitFor(() => upstream.abandoned === 1, 'the upstream call to be aborted');
  });

  it('the total time caps a call whose upstream has not used up REQUEST_TIMEOUT: 504, and no outcome', async () => {
    fakeProxyTime();
    const { port, upstream, breaker, metrics } = await rig({ proxy: { requestTimeoutMs: 5_000, totalTimeoutMs: 300 } });
    upstream.hold();
    const client = rawClient(port);
    client.send('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => upstream.held === 1, 'the call to reach the upstream');
    jest.advanceTimersByTime(299);
    await ioTurns();
    expect(client.text).toBe('');
    jest.advanceTimersByTime(1);
    await until(() => client.text.includes('total time limit of 300 ms reached'), 'the 504');
    expect(client.text).toMatch(/^HTTP\/1\.1 504 /);
    expect(breaker.snapshot().consecutiveFailures).toBe(0);
    expect(metrics.callTotals().proxy).toMatchObject({ aborted: 1, failure: 0 });
    await until(() => upstream.abandoned === 1, 'the upstream call to be aborted');
  });

  it('the total time caps a client still sending its body when it is shorter than the client time: 408, and no outcome', async () => {
    fakeProxyTime();
    const { port, upstream, breaker, metrics } = await rig({ proxy: { requestTimeoutMs: 100, totalTimeoutMs: 300 } });
    const client = rawClient(port);
    client.send(`${UPLOAD_HEAD}01234`);
    await until(() => upstream.requests === 1, 'the headers to reach the upstream');
    jest.advanceTimersByTime(300);
    await until(() => client.closed, 'the proxy to close the connection');
    expect(client.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(client.text).toContain('request body not received in time');
    expect(breaker.snapshot().consecutiveFailures).toBe(0);
    expect(metrics.callTotals().proxy).toMatchObject({ aborted: 1, failure: 0 });
  });

  it('by default the total time leaves room for the client time plus REQUEST_TIMEOUT, so a long REQUEST_TIMEOUT still counts', async () => {
    fakeProxyTime();
    // a 20 s upload, then 45 s of upstream silence: 65 s in all, past a flat 60 s cap
    const { port, upstream, breaker } = await rig({ proxy: { requestTimeoutMs: 45_000 } });
    upstream.hold();
    const client = rawClient(port);
    client.send(`${UPLOAD_HEAD}01234`);
    await until(() => upstream.requests === 1, 'the headers to reach the upstream');
    jest.advanceTimersByTime(20_000);
    client.send('56789');
    await until(() => upstream.held === 1, 'the whole body to reach the upstream');
    jest.advanceTimersByTime(44_999);
    await ioTurns();
    expect(client.text).toBe('');
    jest.advanceTimersByTime(1);
    await until(() => client.text.includes('timeout after 45000 ms'), 'the 504');
    expect(breaker.snapshot().consecutiveFailures).toBe(1);
  });
});

describe('upstream connections', () => {
  it('answers 503 at once, without an outcome or an upstream call, when every upstream connection is in use', async () => {
    // the proxy's clock stands still: no timer of it (REQUEST_TIMEOUT, the total time) can run out
    fakeProxyTime();
    try {
      const { port, upstream, breaker, metrics } = await rig({ proxy: { maxSockets: 1, requestTimeoutMs: 100 } });
      upstream.hold();
      const first = call(port, { path: '/first' });
      await until(() => upstream.held === 1, 'the first call to hold the only connection');

      const second = await call(port, { path: '/second' });
      expect(second.status).toBe(503);
      expect(second.headers['retry-after']).toBe('1');
      expect(JSON.parse(second.body)).toEqual({ error: 'proxy busy', reason: 'all 1 upstream connections in use' });
      // answered at once: while the held call still holds the connection, and before its own REQUEST_TIMEOUT could end
      expect(upstream.held).toBe(1);
      expect(upstream.requests).toBe(1);
      expect(metrics.callTotals().proxy).toMatchObject({ busy: 1, failure: 0 });
      expect(breaker.snapshot().consecutiveFailures).toBe(0);

      upstream.release(echo);
      expect((await first).status).toBe(200);
      // the connection is free again, and kept alive
      expect((await call(port, { path: '/third' })).status).toBe(200);
      expect(upstream.connections).toBe(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('gives back the trial slot of a half_open call it cannot send', async () => {
    const { port, upstream, breaker, clock, metrics } = await rig({ breaker: { halfOpenMaxCalls: 2 }, proxy: { maxSockets: 1 } });
    trip(breaker);
    clock.advance(10_000);
    upstream.hold();
    const first = call(port, { path: '/trial' });
    await waitFor(() => upstream.held === 1, 'the first trial to hold the only connection');
    expect((await call(port)).status).toBe(503);
    expect(breaker.snapshot()).toMatchObject({ state: 'half_open', trialsInFlight: 1 });
    expect(metrics.callTotals().proxy).toMatchObject({ busy: 1, rejected: 0 });
    upstream.release(echo);
    expect((await first).status).toBe(200);
  });
});

describe('upstream faults', () => {
  it('answers 504 when the upstream does not answer within REQUEST_TIMEOUT, and counts a failure', async () => {
    const { port, upstream, breaker, logger } = await rig({ proxy: { requestTimeoutMs: 150 } });
    upstream.hold();
    const reply = await call(port, { path: '/slow' });
    expect(reply.status).toBe(504);
    expect(JSON.parse(reply.body)).toEqual({ error: 'gateway timeout', reason: 'timeout after 150 ms' });
    expect(breaker.snapshot().consecutiveFailures).toBe(1);
    expect(logger.messages()).toContainEqual('warn proxy call failed: GET /slow: timeout after 150 ms (1 consecutive failures)');
    await waitFor(() => upstream.abandoned === 1, 'the upstream call to be aborted');
  });

  it('answers 502 when the upstream refuses connections, and counts a failure with the probe reason', async () => {
    const dead = await closedPort();
    const { port, breaker, logger } = await rig({ upstreamUrl: `http://127.0.0.1:${dead}` });
    const reply = await call(port);
    expect(reply.status).toBe(502);
    expect(JSON.parse(reply.body)).toEqual({ error: 'bad gateway', reason: 'ECONNREFUSED' });
    expect(breaker.snapshot().consecutiveFailures).toBe(1);
    expect(logger.messages()).toContainEqual(expect.stringMatching(/^warn proxy call failed: GET \/: ECONNREFUSED in \d+ ms \(1 consecutive failures\)$/));
  });

  it('answers 502 when the upstream resets the connection', async () => {
    const { port, upstream, breaker } = await rig();
    upstream.answer((_received, res) => res.socket?.destroy());
    const reply = await call(port);
    expect(reply.status).toBe(502);
    expect(breaker.snapshot().consecutiveFailures).toBe(1);
  });

  it('passes an upstream 500 through and counts it as a failure', async () => {
    const { port, upstream, breaker } = await rig();
    upstream.answer(status(500, '{"oops":true}'));
    const reply = await call(port);
    expect(reply.status).toBe(500);
    expect(reply.body).toBe('{"oops":true}');
    expect(breaker.snapshot().consecutiveFailures).toBe(1);
  });

  it('counts a 404 as a failure, or as a success with ACCEPT_CLIENT_ERRORS', async () => {
    const strict = await rig();
    strict.upstream.answer(status(404));
    expect((await call(strict.port)).status).toBe(404);
    expect(strict.breaker.snapshot().consecutiveFailures).toBe(1);

    const lenient = await rig({ proxy: { acceptClientErrors: true } });
    lenient.upstream.answer(status(404));
    expect((await call(lenient.port)).status).toBe(404);
    expect(lenient.breaker.snapshot().consecutiveFailures).toBe(0);
    expect(lenient.metrics.callTotals().proxy.success).toBe(1);
  });

  it('a success resets the consecutive failures', async () => {
    const { port, upstream, breaker } = await rig();
    upstream.answer(status(500));
    await call(port);
    await call(port);
    upstream.answer(echo);
    await call(port);
    expect(breaker.snapshot().consecutiveFailures).toBe(0);
  });

  it('cuts the client response when the upstream breaks off mid-body', async () => {
    const { port, upstream } = await rig();
    upstream.answer((_received, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      setImmediate(() => res.socket?.destroy());
    });
    const cut = await call(port).catch((error: NodeJS.ErrnoException) => error);
    expect(cut).toMatchObject({ code: 'ECONNRESET' });
    upstream.answer(echo);
    expect((await call(port)).status).toBe(200);
  });

  it('counts an answer that breaks off before its body is complete as a failure, and cuts the client', async () => {
    const { port, upstream, breaker, metrics, logger } = await rig();
    // the headers promise 1000 bytes; the connection closes before any of them
    upstream.answer((_received, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.flushHeaders();
      setImmediate(() => res.socket?.destroy());
    });
    const cut = await call(port).catch((error: NodeJS.ErrnoException) => error);
    expect(cut).toMatchObject({ code: 'ECONNRESET' });
    await waitFor(() => metrics.callTotals().proxy.failure === 1, 'the failure to be counted');
    expect(metrics.callTotals().proxy.success).toBe(0);
    expect(breaker.snapshot().consecutiveFailures).toBe(1);
    expect(logger.messages()).toContainEqual(expect.stringMatching(/^warn proxy call failed: GET \/: answer cut off mid-body \(ECONNRESET\) in \d+ ms \(1 consecutive failures\)$/));
  });

  it('trips the breaker through proxied calls alone when the upstream always dies after its headers', async () => {
    const { port, upstream, breaker } = await rig();
    upstream.answer((_received, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      setImmediate(() => res.socket?.destroy());
    });
    for (let i = 0; i < BREAKER.errorThreshold; i += 1) await call(port).catch(() => undefined);
    await waitFor(() => breaker.state === 'open', 'the circuit to open');
    expect((await call(port)).status).toBe(503);
  });

  it('cuts a response still streaming when the total time is up, and counts no outcome: the body never completed', async () => {
    const { port, upstream, breaker, metrics } = await rig({ proxy: { requestTimeoutMs: 100, totalTimeoutMs: 300 } });
    upstream.answer((_received, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first part, then nothing');
    });
    const cut = await call(port).catch((error: NodeJS.ErrnoException) => error);
    expect(cut).toMatchObject({ code: 'ECONNRESET' });
    await waitFor(() => upstream.abandoned === 1, 'the upstream call to be aborted');
    expect(breaker.snapshot()).toMatchObject({ consecutiveFailures: 0, trialsInFlight: 0 });
    expect(metrics.callTotals().proxy).toMatchObject({ success: 0, failure: 0, aborted: 1 });
  });

  it('probe and proxy failures together trip the breaker; then the proxy answers 503 without a connection', async () => {
    const { port, upstream, breaker, logger, metrics } = await rig();
    upstream.answer(status(500));
    // the real probe loop, its timer run by hand
    const pending: (() => void)[] = [];
    const timers: Timers = { setTimeout: (callback) => pending.push(callback), clearTimeout: () => undefined };
    const probe = createProbe({ url: `${upstream.url}/`, timeoutMs: 2_000, acceptClientErrors: false });
    const loop = new ProbeLoop(
      { breaker, probe, logger, clock: new FakeClock(), timers, observer: metrics },
      { probeIntervalMs: 2_000, errorThreshold: 3, successThreshold: 3 },
    );
    cleanups.push(() => loop.stop());
    loop.start();
    pending.shift()!();
    await waitFor(() => breaker.snapshot().consecutiveFailures === 1, 'the probe failure');

    expect((await call(port)).status).toBe(500);
    expect(breaker.state).toBe('closed');
    expect((await call(port)).status).toBe(500);
    expect(breaker.state).toBe('open');
    expect(logger.messages()).toContainEqual(expect.stringMatching(/^warn proxy call failed: GET \/: HTTP 500 in \d+ ms \(3 consecutive failures\)$/));

    const connections = upstream.connections;
    const requests = upstream.requests;
    expect((await call(port)).status).toBe(503);
    expect(upstream.connections).toBe(connections);
    expect(upstream.requests).toBe(requests);
    expect(metrics.callTotals()).toMatchObject({ probe: { failure: 1 }, proxy: { failure: 2, rejected: 1 } });
  });
});

describe('lifecycle', () => {
  it('close() ends promptly with keep-alive and in-flight client connections, and frees the ticket', async () => {
    const { port, proxy, upstream, breaker, metrics } = await rig({ breaker: { halfOpenMaxCalls: 1 } });
    const agent = new http.Agent({ keepAlive: true });
    expect((await call(port, { agent })).status).toBe(200);
    upstream.hold();
    const inFlight = call(port, { path: '/held' }).catch((error: NodeJS.ErrnoException) => error);
    await waitFor(() => upstream.held === 1, 'the held call');
    await proxy.close();
    // cut by close(), not answered 504 at its REQUEST_TIMEOUT (2 s): close() did not wait for it
    expect(await inFlight).toMatchObject({ code: 'ECONNRESET' });
    await waitFor(() => metrics.callTotals().proxy.aborted === 1, 'the call to end without an outcome');
    expect(breaker.snapshot()).toMatchObject({ consecutiveFailures: 0, trialsInFlight: 0 });
    await waitFor(() => upstream.abandoned === 1, 'the upstream call to be aborted');
    agent.destroy();
  });

  it('listen() rejects with EADDRINUSE when the port is taken', async () => {
    const { port } = await rig();
    const clock = new FakeClock();
    const second = createProxy({
      breaker: new CircuitBreaker({ ...BREAKER, clock }),
      logger: new RecordingLogger(),
      upstream: 'http://127.0.0.1:1',
      requestTimeoutMs: 1_000,
      acceptClientErrors: false,
    });
    await expect(second.listen(port, '127.0.0.1')).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await second.close();
  });

  it('the monitor process exits 0 within 1 s of SIGTERM with a client mid-call on the proxy, counting no failure', async () => {
    const upstream = await startCountingUpstream((received, res) => {
      if (received.url !== '/hang') echo(received, res);
    });
    cleanups.push(() => upstream.close());
    const proxyPort = await closedPort();
    const child = spawn(process.execPath, [path.resolve(__dirname, '../dist/main.js')], {
      cwd: __dirname,
      env: { PATH: process.env.PATH ?? '', HTTP_CLIENT: `127.0.0.1:${upstream.port}`, ADMIN_PORT: '0', PROXY_PORT: String(proxyPort) },
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.on('exit', (code) => resolve({ code, at: performance.now() })));
    await waitFor(() => stdout.includes(`guarded proxy listening on port ${proxyPort}`), 'the proxy to listen');

    // a client connected but silent, and one waiting for its answer
    const silent = net.connect(proxyPort, '127.0.0.1');
    silent.on('error', () => undefined);
    const midCall = call(proxyPort, { path: '/hang' }).catch((error: NodeJS.ErrnoException) => error);
    await waitFor(() => upstream.received.some((received) => received.url === '/hang'), 'the call to reach the upstream');

    const signalledAt = performance.now();
    child.kill('SIGTERM');
    const { code, at } = await exited;
    expect(code).toBe(0);
    // the 1 s is kept on the process's own clock: its stop line comes last only when the shutdown
    // ended before its 900 ms deadline. From here, 3 s: room for two processes on a loaded machine
    expect(at - signalledAt).toBeLessThan(3_000);
    expect(await midCall).toMatchObject({ code: 'ECONNRESET' });
    expect(stdout).not.toContain('proxy call failed');
    expect(stdout).toMatch(/monitor stopped \(SIGTERM\); final state: closed\n$/);
    await waitFor(() => silent.closed, 'the silent client to be disconnected');
  });
});
