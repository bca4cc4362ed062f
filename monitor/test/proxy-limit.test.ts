/**
 * The guarded proxy's concurrency limit (SPEC "Concurrency limit"): at most the limit of calls in
 * flight to the upstream, counted at a real loopback upstream; the rest answered `overloaded` at
 * once, without an upstream connection; a slot freed only when the upstream exchange has ended;
 * trials outside the limit.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { CircuitBreaker, FixedLimiter, type CallEnd, type Clock, type ConcurrencyLimiter } from '@circuit-breaker-demo/breaker';
import { Metrics } from '../src/metrics';
import { createProxy } from '../src/proxy/proxy';
import { trip } from './support/admin-rig';
import { FakeClock } from './support/fake-clock';
import { call, type Reply } from './support/raw-http';
import { RecordingLogger } from './support/recording-logger';
import { waitFor } from './support/wait-for';

/** How the upstream answers a path: a status now, or never (`hang`). */
type Behaviour = 'hang' | number;

/** An upstream that counts connections and the requests open at it (received, not yet ended either way). */
interface Upstream {
  readonly url: string;
  readonly connections: number;
  readonly requests: number;
  /** requests open now: the upstream's own count of calls in flight */
  readonly open: number;
  readonly peakOpen: number;
  /** requests whose connection closed before an answer */
  readonly abandoned: number;
  behaviour: Behaviour;
  /** answers every hung request 200 */
  releaseAll(): void;
  close(): Promise<void>;
}

async function startUpstream(): Promise<Upstream> {
  let connections = 0;
  let requests = 0;
  let open = 0;
  let peakOpen = 0;
  let abandoned = 0;
  const hung: http.ServerResponse[] = [];
  const state = { behaviour: 200 as Behaviour };
  const server = http.createServer((req, res) => {
    requests += 1;
    open += 1;
    peakOpen = Math.max(peakOpen, open);
    res.on('close', () => {
      open -= 1;
      if (!res.writableFinished) abandoned += 1;
    });
    req.resume();
    if (state.behaviour === 'hang') hung.push(res);
    else res.writeHead(state.behaviour, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get connections() {
      return connections;
    },
    get requests() {
      return requests;
    },
    get open() {
      return open;
    },
    get peakOpen() {
      return peakOpen;
    },
    get abandoned() {
      return abandoned;
    },
    get behaviour() {
      return state.behaviour;
    },
    set behaviour(value) {
      state.behaviour = value;
    },
    releaseAll: () => {
      for (const res of hung.splice(0)) if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A fixed limit that tells how each slot was given back: the latency on its clock and the end kind. */
class RecordingLimiter implements ConcurrencyLimiter {
  readonly releases: { latencyMs: number; end: CallEnd }[] = [];
  private readonly inner: FixedLimiter;

  constructor(limit: number, readonly clock: Clock = new FakeClock()) {
    this.inner = new FixedLimiter({ limit, clock });
  }

  get limit(): number {
    return this.inner.limit;
  }

  get inFlight(): number {
    return this.inner.inFlight;
  }

  tryAcquire(): boolean {
    return this.inner.tryAcquire();
  }

  release(latencyMs: number, end: CallEnd, endedAt?: number): void {
    this.releases.push({ latencyMs, end });
    this.inner.release(latencyMs, end, endedAt);
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rig(limiter: ConcurrencyLimiter, options: { requestTimeoutMs?: number; clock?: Clock; upstream?: string; errorThreshold?: number } = {}) {
  const upstream = await startUpstream();
  cleanups.push(() => upstream.close());
  const breaker = new CircuitBreaker({ errorThreshold: options.errorThreshold ?? 1_000, openWindowMs: 1_000, ...(options.clock ? { clock: options.clock } : {}) });
  const metrics = new Metrics([{ name: 'default', breaker, limiter }]);
  const proxy = createProxy({
    breaker,
    logger: new RecordingLogger(),
    observer: metrics,
    upstream: options.upstream ?? upstream.url,
    requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
    acceptClientErrors: false,
    limiter,
  });
  const { port } = await proxy.listen(0, '127.0.0.1');
  cleanups.push(() => proxy.close());
  // first: a test that failed midway leaves calls hung at the upstream, which would hold the proxy's close
  cleanups.push(async () => upstream.releaseAll());
  return { upstream, port, breaker, metrics };
}

/** A call that a failing test may leave behind: its rejection must not outlive the test unhandled. */
const heldCall = (port: number, path: string): Promise<Reply | Error> => call(port, { path }).catch((error: Error) => error);

/** A call whose client can be made to leave before its answer. */
function leavingCall(port: number, path: string): { readonly leave: () => void } {
  const client = http.request({ host: '127.0.0.1', port, path, agent: false });
  client.on('error', () => undefined);
  client.end();
  return { leave: () => client.destroy() };
}

it('a hung upstream under concurrent load never has more than the limit in flight; the rest are answered overloaded at once, without a connection', async () => {
  const limiter = new FixedLimiter({ limit: 4 });
  const { upstream, port, breaker, metrics } = await rig(limiter);
  upstream.behaviour = 'hang';
  const answered: Reply[] = [];
  const calls = Array.from({ length: 20 }, (_, i) =>
    heldCall(port, `/load/${i}`).then((reply) => {
      if (!(reply instanceof Error)) answered.push(reply);
      return reply;
    }),
  );
  // 16 answers come while the upstream still holds the other 4: nothing waited for a slot
  await waitFor(() => answered.length === 16, '16 calls answered while the upstream hangs');
  expect(upstream.open).toBe(4);
  expect(upstream.requests).toBe(4);
  expect(upstream.connections).toBe(4);
  for (const reply of answered) {
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('1');
    expect(JSON.parse(reply.body)).toEqual({ error: 'overloaded', reason: 'too many calls in flight to the upstream' });
  }
  // the breaker's tickets of the refused calls went back: no success, no failure, only the 4 in flight
  expect(breaker.callsInFlight).toBe(4);
  expect(breaker.snapshot()).toMatchObject({ state: 'closed', consecutiveFailures: 0, consecutiveSuccesses: 0 });
  expect(metrics.callTotals().proxy).toMatchObject({ overloaded: 16, success: 0, failure: 0, busy: 0 });

  upstream.releaseAll();
  const replies = await Promise.all(calls);
  expect(replies.filter((reply) => !(reply instanceof Error) && reply.status === 200)).toHaveLength(4);
  expect(upstream.peakOpen).toBe(4);
  expect(limiter.inFlight).toBe(0);
  // the slots are free again
  upstream.behaviour = 200;
  expect((await call(port, { path: '/after' })).status).toBe(200);
});

it('a client that leaves does not free its slot while the upstream holds the call: the slot is freed when the aborted exchange has ended', async () => {
  const limiter = new RecordingLimiter(1, { now: () => performance.now() });
  const { upstream, port, metrics } = await rig(limiter);
  upstream.behaviour = 'hang';
  const first = leavingCall(port, '/leaves');
  await waitFor(() => upstream.open === 1, 'the call to reach the upstream');
  expect(JSON.parse((await call(port, { path: '/while-held' })).body)).toMatchObject({ error: 'overloaded' });

  first.leave();
  await waitFor(() => limiter.inFlight === 0, 'the slot to be freed');
  // freed because the exchange ended (the proxy aborted it), not because the client left: the
  // next call reaches the upstream, and never while the first is still open there
  const second = leavingCall(port, '/next');
  await waitFor(() => upstream.requests === 2, 'the next call to reach the upstream');
  expect(upstream.abandoned).toBe(1);
  expect(upstream.peakOpen).toBe(1);
  expect(limiter.releases.map((release) => release.end)).toEqual(['dropped']);
  expect(metrics.callTotals().proxy).toMatchObject({ aborted: 1, overloaded: 1 });
  second.leave();
  await waitFor(() => limiter.inFlight === 0, 'the second slot to be freed');
});

it('a call held by the upstream keeps its slot until the upstream answers, however long that takes on the limiter\'s clock', async () => {
  const clock = new FakeClock();
  const limiter = new RecordingLimiter(1, clock);
  const { upstream, port } = await rig(limiter);
  upstream.behaviour = 'hang';
  const held = heldCall(port, '/held');
  await waitFor(() => upstream.open === 1, 'the call to reach the upstream');
  clock.advance(250);
  expect((await call(port, { path: '/second' })).status).toBe(503);
  upstream.releaseAll();
  expect(await held).toMatchObject({ status: 200 });
  await waitFor(() => limiter.inFlight === 0, 'the slot to be freed');
  expect(limiter.releases).toEqual([{ latencyMs: 250, end: 'success' }]);
});

describe('the limiter is told how each call ended', () => {
  it.each([
    [200, 'success'],
    [404, 'success'],
    [500, 'failure'],
    [503, 'failure'],
  ] as const)('an answer %p: %p', async (status, end) => {
    const limiter = new RecordingLimiter(2);
    const { upstream, port } = await rig(limiter);
    upstream.behaviour = status;
    expect((await call(port, { path: '/x' })).status).toBe(status);
    await waitFor(() => limiter.releases.length === 1, 'the slot to be freed');
    expect(limiter.releases.map((release) => release.end)).toEqual([end]);
  });

  it('REQUEST_TIMEOUT: timeout, and the upstream sees the call cut', async () => {
    const limiter = new RecordingLimiter(2);
    const { upstream, port } = await rig(limiter, { requestTimeoutMs: 100 });
    upstream.behaviour = 'hang';
    expect((await call(port, { path: '/slow' })).status).toBe(504);
    await waitFor(() => limiter.releases.length === 1, 'the slot to be freed');
    expect(limiter.releases.map((release) => release.end)).toEqual(['timeout']);
    await waitFor(() => upstream.abandoned === 1, 'the upstream to see the call cut');
  });

  it('a refused connection: failure', async () => {
    const limiter = new RecordingLimiter(2);
    const closed = await startUpstream();
    const url = closed.url;
    await closed.close();
    const { port } = await rig(limiter, { upstream: url });
    expect((await call(port, { path: '/x' })).status).toBe(502);
    await waitFor(() => limiter.releases.length === 1, 'the slot to be freed');
    expect(limiter.releases.map((release) => release.end)).toEqual(['failure']);
  });
});

it('trials are outside the limit: a half_open trial goes out while the limit is full', async () => {
  const clock = new FakeClock();
  const limiter = new FixedLimiter({ limit: 2 });
  const { upstream, port, breaker } = await rig(limiter, { clock, errorThreshold: 1 });
  upstream.behaviour = 'hang';
  const held = [heldCall(port, '/a'), heldCall(port, '/b')];
  await waitFor(() => upstream.open === 2, 'the limit to be full at the upstream');
  expect((await call(port, { path: '/refused' })).status).toBe(503);

  // open it by a counted failure, then let its window pass: the next proxied call is a trial
  trip(breaker, 1);
  expect(breaker.state).toBe('open');
  clock.advance(1_000);
  upstream.behaviour = 200;
  const trial = await call(port, { path: '/trial' });
  expect(trial.status).toBe(200);
  expect(upstream.requests).toBe(3);
  // the two held calls still hold their slots; the trial took none
  expect(limiter.inFlight).toBe(2);
  upstream.releaseAll();
  await Promise.all(held);
});
