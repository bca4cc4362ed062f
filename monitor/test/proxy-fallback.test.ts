/**
 * PROXY_FALLBACK=stale on real loopback HTTP: the guarded proxy keeps the last good answers and
 * serves them while the circuit rejects, or when the upstream fails (502/504).
 */
import http from 'node:http';
import { CircuitBreaker } from '@circuit-breaker-demo/breaker';
import { Metrics } from '../src/metrics';
import { createProxy } from '../src/proxy/proxy';
import { StaleCache } from '../src/proxy/stale-cache';
import { startCountingUpstream, type Answer } from './support/counting-upstream';
import { FakeClock } from './support/fake-clock';
import { call } from './support/raw-http';
import { RecordingLogger } from './support/recording-logger';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const PAGE = '{"page":"the good one"}';
const good: Answer = (_received, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(PAGE), 'cache-control': 'max-age=5' });
  res.end(PAGE);
};

async function rig(requestTimeoutMs = 2_000) {
  const clock = new FakeClock();
  const breaker = new CircuitBreaker({ errorThreshold: 3, successThreshold: 1, openWindowMs: 10_000, clock });
  const metrics = new Metrics(breaker);
  const cache = new StaleCache({ maxBytes: 100_000 });
  const upstream = await startCountingUpstream(good);
  cleanups.push(() => upstream.close());
  const proxy = createProxy({ breaker, logger: new RecordingLogger(), observer: metrics, upstream: upstream.url, requestTimeoutMs, acceptClientErrors: false, fallbackCache: cache });
  const { port } = await proxy.listen(0, '127.0.0.1');
  cleanups.push(() => proxy.close());
  const trip = () => {
    for (let i = 0; i < 3; i += 1) {
      const admission = breaker.tryAcquire();
      if (admission.admitted) breaker.record(admission.ticket, { ok: false, reason: 'test' });
    }
    expect(breaker.state).toBe('open');
  };
  return { breaker, metrics, cache, upstream, port, trip };
}

it('serves the last good answer while the circuit is open, marked stale, without touching the upstream', async () => {
  const { port, upstream, trip, metrics } = await rig();
  expect((await call(port, { path: '/page' })).body).toBe(PAGE);
  trip();
  const before = upstream.requests;
  const reply = await call(port, { path: '/page' });
  expect(reply.status).toBe(200);
  expect(reply.body).toBe(PAGE);
  expect(reply.headers['cache-status']).toBe('circuit-breaker-monitor; hit; detail="fallback: circuit open"');
  expect(reply.headers.age).toBe('0');
  expect(reply.headers['content-type']).toBe('application/json');
  expect(upstream.requests).toBe(before);
  expect(metrics.callTotals().proxy).toMatchObject({ fallback: 1, rejected: 0 });
});

it('answers a HEAD from the GET entry: its headers and length, no body', async () => {
  const { port, trip } = await rig();
  await call(port, { path: '/page' });
  trip();
  const reply = await call(port, { method: 'HEAD', path: '/page' });
  expect(reply.status).toBe(200);
  expect(reply.headers['content-length']).toBe(String(Buffer.byteLength(PAGE)));
  expect(reply.body).toBe('');
});

it('answers the usual 503 with Retry-After when nothing is cached for the request', async () => {
  const { port, trip, metrics } = await rig();
  await call(port, { path: '/page' });
  trip();
  const reply = await call(port, { path: '/other' });
  expect(reply.status).toBe(503);
  expect(reply.headers['retry-after']).toBe('10');
  expect(metrics.callTotals().proxy).toMatchObject({ fallback: 0, rejected: 1 });
});

it('does not store an answer that must not be shared (no-store, Set-Cookie, to an authorized request)', async () => {
  const { port, upstream, trip, cache } = await rig();
  upstream.answer((received, res) => {
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'text/plain' };
    if (received.url === '/no-store') headers['cache-control'] = 'no-store';
    if (received.url === '/cookie') headers['set-cookie'] = 'id=1';
    res.writeHead(200, headers).end('private');
  });
  await call(port, { path: '/no-store' });
  await call(port, { path: '/cookie' });
  await call(port, { path: '/mine', headers: { authorization: 'Bearer x' } });
  expect(cache.size).toBe(0);
  trip();
  for (const path of ['/no-store', '/cookie', '/mine']) expect((await call(port, { path })).status).toBe(503);
});

it('serves the cached answer instead of a 502 while closed; the failure still counts', async () => {
  const { port, upstream, breaker, metrics } = await rig();
  await call(port, { path: '/page' });
  upstream.answer((_received, res) => res.socket?.destroy());
  const reply = await call(port, { path: '/page' });
  expect(reply.status).toBe(200);
  expect(reply.body).toBe(PAGE);
  expect(reply.headers['cache-status']).toContain('fallback: upstream error');
  expect(breaker.snapshot().consecutiveFailures).toBe(1);
  expect(metrics.callTotals().proxy).toMatchObject({ success: 1, failure: 0, fallback: 1 });
  // nothing cached for this one: the usual 502
  expect((await call(port, { path: '/elsewhere' })).status).toBe(502);
});

it('serves the cached answer instead of a 504', async () => {
  const { port, upstream } = await rig(50);
  await call(port, { path: '/page' });
  upstream.hold();
  const reply = await call(port, { path: '/page' });
  expect(reply.status).toBe(200);
  expect(reply.headers['cache-status']).toContain('fallback: upstream timeout');
  upstream.release();
});

it('streams a body to the client while keeping it, and keeps it only once it is whole', async () => {
  const { port, upstream, cache } = await rig();
  let finish: (() => void) | undefined;
  upstream.answer((_received, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '10' });
    res.write('first');
    finish = () => res.end('-last');
  });
  const firstChunk = await new Promise<string>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/stream', agent: false }, (res) => {
      res.once('data', (chunk: Buffer) => {
        resolve(chunk.toString());
        // the upstream has not ended yet: nothing stored so far
        expect(cache.size).toBe(0);
        finish?.();
        res.resume();
      });
    });
    req.on('error', reject);
  });
  expect(firstChunk).toBe('first');
  for (let i = 0; i < 100 && cache.size === 0; i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(cache.size).toBe(1);
});

it('keeps nothing of an answer whose client left mid-body', async () => {
  const { port, upstream, cache, trip } = await rig();
  upstream.answer((_received, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '10' });
    res.write('half');
  });
  await new Promise<void>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/half', agent: false }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', () => undefined);
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(cache.size).toBe(0);
  trip();
  expect((await call(port, { path: '/half' })).status).toBe(503);
});
