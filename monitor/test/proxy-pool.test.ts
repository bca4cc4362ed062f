/**
 * The guarded proxy's upstream connections (undici's Pool): bounded by maxSockets, kept alive and
 * reused under load, and really closed when a call is cut (a timeout, a client gone). Counted at a
 * real loopback upstream, which sees every connection open and close.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { CircuitBreaker } from '@circuit-breaker-demo/breaker';
import { Metrics } from '../src/metrics';
import { createProxy, type ProxyOptions } from '../src/proxy/proxy';
import { call } from './support/raw-http';
import { RecordingLogger } from './support/recording-logger';

/** An upstream that counts connections (opened, open now) and requests in flight at once. */
interface Upstream {
  readonly url: string;
  readonly opened: number;
  readonly open: number;
  readonly requests: number;
  /** most requests in flight at once */
  readonly peakInFlight: number;
  /** whether the connection that carried the request for `path` is still open */
  connectionOpen(path: string): boolean;
  /** a request's answer waits this long; null: never answered */
  delayMs: number | null;
  close(): Promise<void>;
}

async function startUpstream(): Promise<Upstream> {
  const sockets = new Set<Socket>();
  let opened = 0;
  let requests = 0;
  let inFlight = 0;
  let peakInFlight = 0;
  const state = { delayMs: 2 as number | null };
  const carriedBy = new Map<string, Socket>();
  const server = http.createServer((req, res) => {
    requests += 1;
    carriedBy.set(req.url ?? '', req.socket);
    inFlight += 1;
    peakInFlight = Math.max(peakInFlight, inFlight);
    res.on('close', () => (inFlight -= 1));
    req.resume();
    if (state.delayMs === null) return;
    setTimeout(() => res.end('{"ok":true}'), state.delayMs);
  });
  server.on('connection', (socket: Socket) => {
    opened += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get opened() {
      return opened;
    },
    get open() {
      return sockets.size;
    },
    get requests() {
      return requests;
    },
    get peakInFlight() {
      return peakInFlight;
    },
    connectionOpen: (path) => {
      const socket = carriedBy.get(path);
      if (socket === undefined) throw new Error(`no request for ${path} reached the upstream`);
      return sockets.has(socket);
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(value) {
      state.delayMs = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rig(proxyOptions: Partial<ProxyOptions>) {
  const upstream = await startUpstream();
  cleanups.push(() => upstream.close());
  const breaker = new CircuitBreaker({ errorThreshold: 1_000 });
  const metrics = new Metrics(breaker);
  const proxy = createProxy({ breaker, logger: new RecordingLogger(), observer: metrics, upstream: upstream.url, requestTimeoutMs: 2_000, acceptClientErrors: false, ...proxyOptions });
  const { port } = await proxy.listen(0, '127.0.0.1');
  cleanups.push(() => proxy.close());
  return { upstream, port, metrics };
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

it('carries 400 calls from 4 clients at once over at most maxSockets connections, kept alive and reused', async () => {
  const { upstream, port } = await rig({ maxSockets: 4 });
  const statuses: number[] = [];
  // each client sends its next call once its answer is in: 4 calls in flight at most
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 100; i += 1) statuses.push((await call(port, { path: `/item/${i}` })).status);
    }),
  );
  expect(statuses.filter((status) => status !== 200)).toEqual([]);
  expect(upstream.requests).toBe(400);
  expect(upstream.peakInFlight).toBeLessThanOrEqual(4);
  // never more connections than the bound, and each one carried many calls
  expect(upstream.opened).toBeLessThanOrEqual(4);
  expect(upstream.open).toBeLessThanOrEqual(4);
});

it('under more clients than connections, the upstream never has more than maxSockets in flight; the rest are answered busy at once', async () => {
  const { upstream, port, metrics } = await rig({ maxSockets: 3 });
  upstream.delayMs = 30;
  const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => call(port, { path: `/burst/${i}` })));
  const byStatus = (status: number) => replies.filter((reply) => reply.status === status).length;
  expect(byStatus(200) + byStatus(503)).toBe(12);
  expect(byStatus(200)).toBe(upstream.requests);
  expect(upstream.peakInFlight).toBeLessThanOrEqual(3);
  expect(upstream.opened).toBeLessThanOrEqual(3);
  expect(metrics.callTotals().proxy).toMatchObject({ success: byStatus(200), busy: byStatus(503) });
  // the busy ones carry the proxy's own answer, not the upstream's
  for (const reply of replies.filter((r) => r.status === 503)) expect(JSON.parse(reply.body)).toMatchObject({ error: 'proxy busy' });
});

it("destroys a timed-out call's upstream connection, and the next call goes out on another", async () => {
  const { upstream, port } = await rig({ requestTimeoutMs: 100, maxSockets: 2 });
  upstream.delayMs = null;
  const reply = await call(port, { path: '/hangs' });
  expect(reply.status).toBe(504);
  // the connection the call went out on is closed, not left to the upstream. (undici 7 then opens
  // one idle connection in its place, which its keep-alive time closes: nodejs/undici#5845.)
  await waitFor(() => !upstream.connectionOpen('/hangs'), 'the upstream to see that connection closed');

  upstream.delayMs = 2;
  expect((await call(port, { path: '/after' })).status).toBe(200);
  expect(upstream.requests).toBe(2);
});

it("destroys the upstream connection of a call whose client left, and frees the connection's place", async () => {
  const { upstream, port, metrics } = await rig({ maxSockets: 1 });
  upstream.delayMs = null;
  const client = http.request({ host: '127.0.0.1', port, path: '/left', agent: false });
  client.on('error', () => undefined);
  client.end();
  await waitFor(() => upstream.requests === 1, 'the call to reach the upstream');
  client.destroy();
  await waitFor(() => !upstream.connectionOpen('/left'), 'the upstream to see that connection closed');
  expect(metrics.callTotals().proxy).toMatchObject({ aborted: 1 });

  // the only connection's place is free again: not answered busy
  upstream.delayMs = 2;
  expect((await call(port, { path: '/next' })).status).toBe(200);
});

describe('backpressure', () => {
  const MB = 1024 * 1024;

  /** A byte count once it has stopped moving (the same over 200 ms), polled on real I/O. */
  async function settled(count: () => number): Promise<number> {
    const deadline = performance.now() + 10_000;
    let last = -1;
    while (count() !== last) {
      if (performance.now() > deadline) throw new Error(`still moving after 10 s: ${count()} bytes`);
      last = count();
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return last;
  }

  it('a client that stops reading stops the upstream too: the answer is not buffered in the proxy', async () => {
    const TOTAL = 64 * MB;
    let written = 0;
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': TOTAL });
      const chunk = Buffer.alloc(64 * 1024, 97);
      const pump = (): void => {
        while (written < TOTAL) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
    const breaker = new CircuitBreaker({ errorThreshold: 3 });
    const proxy = createProxy({ breaker, logger: new RecordingLogger(), upstream: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requestTimeoutMs: 2_000, acceptClientErrors: false });
    const { port } = await proxy.listen(0, '127.0.0.1');
    cleanups.push(() => proxy.close());

    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/big', agent: false }, resolve);
      req.on('error', reject);
    });
    response.pause();
    // the upstream stops once the socket buffers on the way are full: the proxy holds no more
    expect(await settled(() => written)).toBeLessThan(TOTAL / 4);

    let received = 0;
    response.on('data', (chunk: Buffer) => (received += chunk.length));
    response.resume();
    await new Promise((resolve) => response.on('end', resolve));
    expect(received).toBe(TOTAL);
    expect(breaker.snapshot().consecutiveFailures).toBe(0);
  });

  it('an upstream that stops reading stops the client upload too: the body is not buffered in the proxy', async () => {
    let read = 0;
    let upstreamRequest: http.IncomingMessage | undefined;
    const server = http.createServer((req, res) => {
      upstreamRequest = req;
      req.pause();
      req.on('data', (chunk: Buffer) => (read += chunk.length));
      req.on('end', () => res.end('{"ok":true}'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
    const breaker = new CircuitBreaker({ errorThreshold: 3 });
    const TOTAL = 48 * MB;
    const proxy = createProxy({ breaker, logger: new RecordingLogger(), upstream: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requestTimeoutMs: 2_000, acceptClientErrors: false, maxBodyBytes: TOTAL });
    const { port } = await proxy.listen(0, '127.0.0.1');
    cleanups.push(() => proxy.close());

    let sent = 0;
    const answer = new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'PUT', path: '/upload', agent: false, headers: { 'content-length': TOTAL } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 98);
      const pump = (): void => {
        while (sent < TOTAL) {
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    await waitFor(() => upstreamRequest !== undefined, 'the upload to reach the upstream');
    expect(await settled(() => sent)).toBeLessThan(TOTAL / 4);

    upstreamRequest!.resume();
    expect(await answer).toBe(200);
    expect(read).toBe(TOTAL);
  });
});
