/**
 * The guarded proxy with several routes (SPEC "Routes"): the longest matching prefix picks the
 * route, each route has its own breaker and upstream, a path no route matches gets 404 without
 * touching an upstream, and a failing route opens alone. Real loopback HTTP; fake clocks.
 */
import { CircuitBreaker } from '@circuit-breaker-demo/breaker';
import { Metrics } from '../src/metrics';
import { createProxy, type NamedProxyRoute } from '../src/proxy/proxy';
import { startCountingUpstream, status, type CountingUpstream } from './support/counting-upstream';
import { FakeClock } from './support/fake-clock';
import { parsePrometheus } from './support/prometheus-text';
import { call, rawExchange } from './support/raw-http';
import { RecordingLogger } from './support/recording-logger';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Routed {
  readonly port: number;
  readonly upstreams: Record<string, CountingUpstream>;
  readonly breakers: Record<string, CircuitBreaker>;
  readonly metrics: Metrics;
  readonly logger: RecordingLogger;
}

/** A proxy with one route per entry of `prefixes` (name -> prefix), each to an upstream of its own. */
async function routed(prefixes: Record<string, string>): Promise<Routed> {
  const clock = new FakeClock();
  const logger = new RecordingLogger();
  const upstreams: Record<string, CountingUpstream> = {};
  const breakers: Record<string, CircuitBreaker> = {};
  for (const name of Object.keys(prefixes)) {
    upstreams[name] = await startCountingUpstream();
    cleanups.push(() => upstreams[name]!.close());
    breakers[name] = new CircuitBreaker({ errorThreshold: 3, openWindowMs: 10_000, clock });
  }
  const metrics = new Metrics(Object.keys(prefixes).map((name) => ({ name, breaker: breakers[name]! })));
  cleanups.push(() => metrics.close());
  const routes: NamedProxyRoute[] = Object.entries(prefixes).map(([name, prefix]) => ({
    name,
    prefix,
    breaker: breakers[name]!,
    upstream: upstreams[name]!.url,
    observer: metrics.route(name),
    requestTimeoutMs: 2_000,
    acceptClientErrors: false,
  }));
  const proxy = createProxy({ logger, routes });
  const { port } = await proxy.listen(0, '127.0.0.1');
  cleanups.push(() => proxy.close());
  return { port, upstreams, breakers, metrics, logger };
}

const urls = (upstream: CountingUpstream): string[] => upstream.received.map((received) => received.url);

it('sends each path to the route with the longest matching prefix, with the path as it was given', async () => {
  const { port, upstreams } = await routed({ api: '/api/', reviews: '/api/reviews/', catalog: '/api/catalog/' });
  for (const path of ['/api/reviews/7', '/api/catalog/shoes?size=42', '/api/other', '/api/reviews/', '/api/reviewsx']) {
    expect((await call(port, { path })).status).toBe(200);
  }
  expect(urls(upstreams.reviews!)).toEqual(['/api/reviews/7', '/api/reviews/']);
  expect(urls(upstreams.catalog!)).toEqual(['/api/catalog/shoes?size=42']);
  // not stripped, and a longer name is not a longer prefix of the path
  expect(urls(upstreams.api!)).toEqual(['/api/other', '/api/reviewsx']);
});

it('answers 404 to a path no route matches, without touching any upstream or counting a call', async () => {
  const { port, upstreams, metrics } = await routed({ catalog: '/api/catalog/', reviews: '/api/reviews/' });
  const reply = await call(port, { path: '/admin' });
  expect(reply.status).toBe(404);
  expect(JSON.parse(reply.body)).toEqual({ error: 'no route for this path' });
  expect(upstreams.catalog!.connections + upstreams.reviews!.connections).toBe(0);
  expect(metrics.callTotals('catalog').proxy.success + metrics.callTotals('reviews').proxy.success).toBe(0);
});

it.each(['/api/reviews/../catalog/x', '/api/reviews/%2e%2e/catalog/x', '/api/reviews/..%2fcatalog', '/api/reviews/./x', '/api/reviews/..'])(
  'refuses %s with 400 when there are several routes: an upstream that normalises it would see another route',
  async (path) => {
    const { port, upstreams } = await routed({ catalog: '/api/catalog/', reviews: '/api/reviews/' });
    const { text } = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(upstreams.catalog!.requests + upstreams.reviews!.requests).toBe(0);
  },
);

it('a failing route opens alone: its clients get 503 at once, the other route passes every request', async () => {
  const { port, upstreams, breakers, logger } = await routed({ catalog: '/api/catalog/', reviews: '/api/reviews/' });
  upstreams.reviews!.answer(status(500));
  for (let i = 0; i < 3; i += 1) expect((await call(port, { path: `/api/reviews/${i}` })).status).toBe(500);
  expect(breakers.reviews!.state).toBe('open');
  expect(breakers.catalog!.state).toBe('closed');
  const before = upstreams.reviews!.requests;

  const statuses = { catalog: [] as number[], reviews: [] as number[] };
  for (let i = 0; i < 200; i += 1) {
    statuses.catalog.push((await call(port, { path: `/api/catalog/${i}` })).status);
    statuses.reviews.push((await call(port, { path: `/api/reviews/${i}` })).status);
  }
  expect(statuses.catalog.filter((code) => code !== 200)).toEqual([]);
  expect(statuses.reviews.filter((code) => code !== 503)).toEqual([]);
  // the open route's upstream saw none of them
  expect(upstreams.reviews!.requests).toBe(before);
  expect(upstreams.catalog!.requests).toBe(200);
  // the lines of each route say which
  expect(logger.messages()).toContainEqual(expect.stringMatching(/^warn \[reviews\] proxy call failed: GET \/api\/reviews\/2: HTTP 500 in \d+ ms \(3 consecutive failures\)$/));
  expect(logger.lines.every((line) => line.msg.startsWith('[reviews] ') || line.msg.startsWith('[catalog] '))).toBe(true);
});

it('metrics: one series set per route, and as many series after 1,000 random paths as before', async () => {
  const { port, metrics } = await routed({ catalog: '/api/catalog/', reviews: '/api/reviews/' });
  const seriesCount = async (): Promise<number> => parsePrometheus(await metrics.text()).length;
  const stateSeries = parsePrometheus(await metrics.text()).filter((sample) => sample.name === 'circuit_breaker_state');
  // routes x states
  expect(stateSeries).toHaveLength(2 * 4);
  expect(new Set(stateSeries.map((sample) => sample.labels.route))).toEqual(new Set(['catalog', 'reviews']));
  const before = await seriesCount();
  for (let i = 0; i < 1_000; i += 1) {
    const path = `/${['api/catalog', 'api/reviews', 'x', 'api'][i % 4]}/${Math.random().toString(36).slice(2)}`;
    await call(port, { path });
  }
  expect(await seriesCount()).toBe(before);
});
