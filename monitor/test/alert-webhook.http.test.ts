/**
 * The webhook against real receivers on loopback: real HTTP, real sockets, real (short) timers.
 * The rules themselves, with fake timers: alert-webhook.test.ts.
 */
import net from 'node:net';
import { Registry } from 'prom-client';
import { CircuitBreaker, monotonicClock, type Transition } from '@circuit-breaker-demo/breaker';
import { registerAlertMetrics } from '../src/alerts/alert-metrics';
import { AlertWebhook, type WebhookPolicy } from '../src/alerts/webhook';
import type { AlertFormat } from '../src/config';
import { ProbeLoop } from '../src/probe/loop';
import { createProbe } from '../src/probe/probe';
import { closedPort, startServer } from './support/http-server';
import { FakeClock } from './support/fake-clock';
import { parsePrometheus, sampleValue } from './support/prometheus-text';
import { RecordingLogger } from './support/recording-logger';
import { answerWith, startReceiver, type Receiver } from './support/webhook-receiver';
import { waitFor } from './support/wait-for';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Short real times, so a test takes well under a second. */
const FAST: Partial<WebhookPolicy> = { timeoutMs: 300, attempts: 3, backoffMs: 20 };

function webhookTo(url: string, options: { policy?: Partial<WebhookPolicy>; authorization?: string; format?: AlertFormat } = {}) {
  const logger = new RecordingLogger();
  const config = { url, format: options.format ?? 'json', ...(options.authorization ? { authorization: options.authorization } : {}) };
  const webhook = new AlertWebhook(config, { logger, upstream: 'http://nginx:80', host: 'monitor-test', policy: { ...FAST, ...options.policy } });
  cleanups.push(() => webhook.close(100));
  const clock = new FakeClock();
  const breaker = new CircuitBreaker({ errorThreshold: 1, successThreshold: 1, openWindowMs: 1_000, clock });
  breaker.onTransition(webhook.transition);
  return { webhook, breaker, clock, logger };
}

async function receiver(answer: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const started = await startReceiver(answer);
  cleanups.push(() => started.close());
  return started;
}

function call(breaker: CircuitBreaker, ok: boolean): void {
  const admission = breaker.tryAcquire();
  if (!admission.admitted) throw new Error(`not admitted (${breaker.state})`);
  breaker.record(admission.ticket, ok ? { ok: true } : { ok: false, reason: 'ECONNREFUSED' });
}

/** closed -> open -> half_open -> closed */
function openAndRecover(breaker: CircuitBreaker, clock: FakeClock): void {
  call(breaker, false);
  clock.advance(1_000);
  call(breaker, true);
}

const idle = (webhook: AlertWebhook): boolean => {
  const { sent, failed, dropped } = webhook.totals;
  return webhook.queued === 0 && sent + failed + dropped > 0;
};

it('POSTs one JSON alert per transition, in order, with the headers and the body of the contract', async () => {
  const hook = await receiver(answerWith(200));
  const { webhook, breaker, clock } = webhookTo(`${hook.url}/alerts?channel=ops`, { authorization: 'Bearer t0ken' });
  openAndRecover(breaker, clock);
  await waitFor(() => webhook.totals.sent === 3, 'three alerts sent');

  expect(hook.posts.map((post) => [post.method, post.url])).toEqual(Array(3).fill(['POST', '/alerts?channel=ops']));
  expect(hook.posts[0]!.headers).toMatchObject({
    'content-type': 'application/json',
    authorization: 'Bearer t0ken',
    'user-agent': 'circuit-breaker-monitor',
    'content-length': String(Buffer.byteLength(hook.posts[0]!.body)),
  });
  const uuid = expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const iso = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const common = { id: uuid, at: iso, upstream: 'http://nginx:80', route: 'default', host: 'monitor-test' };
  expect(hook.alerts).toEqual([
    {
      ...common,
      from: 'closed',
      to: 'open',
      cause: 'failures',
      reason: 'ECONNREFUSED',
      message: 'Circuit changed from closed to open (1 consecutive failures, last: ECONNREFUSED; trial in 1 s)',
      retryInSeconds: 1,
    },
    { ...common, from: 'open', to: 'half_open', cause: 'window_elapsed', reason: null, message: 'Circuit changed from open to half_open (open window ended; sending trial calls)', retryInSeconds: null },
    { ...common, from: 'half_open', to: 'closed', cause: 'trials_succeeded', reason: null, message: 'Circuit changed from half_open to closed (1 consecutive trial successes)', retryInSeconds: null },
  ]);
  expect(new Set(hook.alerts.map((alert) => alert.id)).size).toBe(3);
  expect(Math.abs(Date.parse(hook.alerts[0]!.at as string) - Date.now())).toBeLessThan(60_000);
});

it('POSTs {"text": ...} with ALERT_WEBHOOK_FORMAT=slack', async () => {
  const hook = await receiver(answerWith(200));
  const { webhook, breaker } = webhookTo(hook.url, { format: 'slack' });
  call(breaker, false);
  await waitFor(() => webhook.totals.sent === 1, 'the alert sent');
  expect(hook.alerts).toEqual([{ text: expect.stringMatching(/^:red_circle: Circuit changed from closed to open \(.*\): upstream http:\/\/nginx:80, monitor monitor-test, at \d{4}-/) }]);
});

it('a receiver that is down: every try refused, then the alert is counted failed; the breaker never noticed', async () => {
  const port = await closedPort();
  const { webhook, breaker, clock, logger } = webhookTo(`http://127.0.0.1:${port}/`);
  openAndRecover(breaker, clock);
  expect(breaker.state).toBe('closed');
  await waitFor(() => idle(webhook) && webhook.totals.failed === 3, 'three alerts given up');
  expect(webhook.totals).toEqual({ sent: 0, failed: 3, dropped: 0 });
  expect(logger.messages()).toContainEqual(expect.stringMatching(/^warn alert not delivered: closed -> open \(id .+\): ECONNREFUSED \(try 3 of 3\)$/));
});

it('a receiver that hangs: each try cut at the timeout and retried, then failed', async () => {
  const hook = await receiver(() => undefined);
  const { webhook, breaker, logger } = webhookTo(hook.url, { policy: { timeoutMs: 150, attempts: 2 } });
  call(breaker, false);
  await waitFor(() => idle(webhook), 'the alert given up');
  expect(webhook.totals).toEqual({ sent: 0, failed: 1, dropped: 0 });
  expect(hook.posts).toHaveLength(2);
  expect(hook.posts[1]!.at - hook.posts[0]!.at).toBeGreaterThanOrEqual(150);
  await waitFor(() => hook.closedSockets === 2, 'both connections cut by the monitor');
  expect(logger.messages()).toContainEqual(expect.stringMatching(/: timeout after 150 ms \(try 2 of 2\)$/));
});

it('500 then 200: retried, and delivered once, with the same body (the same id)', async () => {
  const hook = await receiver((post, index) => answerWith(index === 1 ? 500 : 200)(post));
  const { webhook, breaker } = webhookTo(hook.url);
  call(breaker, false);
  await waitFor(() => idle(webhook), 'the alert delivered');
  expect(webhook.totals).toEqual({ sent: 1, failed: 0, dropped: 0 });
  expect(hook.posts).toHaveLength(2);
  expect(hook.posts[1]!.body).toBe(hook.posts[0]!.body);
});

it('400: not retried, counted failed after one POST', async () => {
  const hook = await receiver(answerWith(400));
  const { webhook, breaker, logger } = webhookTo(hook.url);
  call(breaker, false);
  await waitFor(() => idle(webhook), 'the alert given up');
  expect(webhook.totals).toEqual({ sent: 0, failed: 1, dropped: 0 });
  expect(hook.posts).toHaveLength(1);
  expect(logger.messages()).toContainEqual(expect.stringMatching(/: HTTP 400, not retried$/));
});

it('a receiver that answers garbage instead of HTTP: retried like a network error, then failed', async () => {
  let connections = 0;
  const garbage = net.createServer((socket) => {
    connections += 1;
    socket.on('error', () => undefined);
    socket.once('data', () => socket.end('this is not HTTP\r\n\r\n'));
  });
  await new Promise<void>((resolve) => garbage.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => garbage.close(() => resolve())));
  const { port } = garbage.address() as net.AddressInfo;
  const { webhook, breaker, logger } = webhookTo(`http://127.0.0.1:${port}/`);
  call(breaker, false);
  await waitFor(() => idle(webhook), 'the alert given up');
  expect(webhook.totals).toEqual({ sent: 0, failed: 1, dropped: 0 });
  expect(connections).toBe(3);
  expect(logger.messages()).toContainEqual(expect.stringMatching(/: HPE_\w+ \(try 3 of 3\)$/));
});

it('a 200 with a body that is not JSON is a delivery: what the receiver says is not parsed', async () => {
  const hook = await receiver((post) => post.response.writeHead(200, { 'Content-Type': 'application/json' }).end('{{{ not json'));
  const { webhook, breaker } = webhookTo(hook.url);
  call(breaker, false);
  await waitFor(() => idle(webhook), 'the alert delivered');
  expect(webhook.totals).toEqual({ sent: 1, failed: 0, dropped: 0 });
});

it('a flood of transitions against a hanging receiver overflows the queue: the extra alerts are dropped and counted in /metrics', async () => {
  let up = false;
  const hook = await receiver((post) => up && answerWith(200)(post));
  const { webhook, breaker, clock } = webhookTo(hook.url, { policy: { capacity: 5, timeoutMs: 10_000 } });
  const registry = new Registry();
  registerAlertMetrics(registry, webhook);
  call(breaker, false);
  await waitFor(() => hook.posts.length === 1, 'the first POST to hang');
  for (let i = 0; i < 8; i++) {
    clock.advance(1_000);
    call(breaker, true); // open -> half_open -> closed
    call(breaker, false); // closed -> open
  }
  // 1 in flight, 24 more: 5 wait, 19 dropped
  const samples = parsePrometheus(await registry.metrics());
  expect(sampleValue(samples, 'circuit_breaker_alerts_total', { outcome: 'dropped' })).toBe(19);
  expect(sampleValue(samples, 'circuit_breaker_alerts_total', { outcome: 'sent' })).toBe(0);
  expect(sampleValue(samples, 'circuit_breaker_alerts_total', { outcome: 'failed' })).toBe(0);
  expect(sampleValue(samples, 'circuit_breaker_alerts_queued')).toBe(5);
  expect(hook.posts).toHaveLength(1);

  // the receiver comes back: what waited goes out
  up = true;
  hook.posts[0]!.response.end();
  await waitFor(() => webhook.totals.sent === 6, 'six alerts sent');
  expect(hook.alerts.slice(1).map((alert) => `${alert.from}->${alert.to}`)).toEqual(['half_open->closed', 'closed->open', 'open->half_open', 'half_open->closed', 'closed->open']);
  const after = parsePrometheus(await registry.metrics());
  expect(sampleValue(after, 'circuit_breaker_alerts_total', { outcome: 'sent' })).toBe(6);
  expect(sampleValue(after, 'circuit_breaker_alerts_queued')).toBe(0);
});

describe('the probe loop with a hanging receiver', () => {
  const WINDOW_MS = 50;

  /** A real probe loop against an upstream that always fails: it opens, tries, reopens... */
  async function run(webhook: AlertWebhook | undefined, transitions: number) {
    const upstream = await startServer((_req, res) => res.writeHead(500).end());
    cleanups.push(() => upstream.close());
    const breaker = new CircuitBreaker({ errorThreshold: 1, successThreshold: 1, openWindowMs: WINDOW_MS, clock: monotonicClock });
    const seen: Transition[] = [];
    breaker.onTransition((transition) => seen.push(transition));
    if (webhook) breaker.onTransition(webhook.transition);
    const probe = createProbe({ url: `${upstream.url}/`, timeoutMs: 1_000, acceptClientErrors: false });
    const loop = new ProbeLoop({ breaker, probe, logger: new RecordingLogger(), clock: monotonicClock }, { probeIntervalMs: 20, errorThreshold: 1, successThreshold: 1 });
    loop.start();
    await waitFor(() => seen.length >= transitions, `${transitions} transitions`, 10_000);
    await loop.stop();
    // how late each trial was: half_open's time minus the end of its open window
    const late = seen.flatMap((transition, i) => (transition.to === 'half_open' ? [transition.at - (seen[i - 1]!.at + WINDOW_MS)] : []));
    return { seen: seen.slice(0, transitions).map((transition) => `${transition.from}->${transition.to}`), late };
  }

  it('keeps its rhythm: the same transitions, every trial sent when its window ends, while every POST hangs', async () => {
    const hook = await receiver(() => undefined);
    const { webhook } = webhookTo(hook.url, { policy: { timeoutMs: 30_000, capacity: 1_000 } });
    const without = await run(undefined, 30);
    const withHung = await run(webhook, 30);

    expect(withHung.seen).toEqual(without.seen);
    expect(withHung.seen.slice(0, 3)).toEqual(['closed->open', 'open->half_open', 'half_open->open']);
    // one POST went out and hangs: the other alerts wait, none was sent from the probe's path
    expect(hook.posts).toHaveLength(1);
    expect(webhook.totals).toEqual({ sent: 0, failed: 0, dropped: 0 });
    expect(webhook.queued).toBeGreaterThanOrEqual(29);
    // never early; how late is measured (bench/webhook.ts), not asserted: timings on these machines are noise
    expect(Math.min(...withHung.late)).toBeGreaterThanOrEqual(0);
  });
});
