/**
 * The webhook's queue, retries and shutdown flush, with a scripted POST and jest's fake timers
 * (no real sleeps). The same rules against a real receiver: alert-webhook.http.test.ts.
 */
import { CircuitBreaker, type Clock } from '@circuit-breaker-demo/breaker';
import type { Alert } from '../src/alerts/alert';
import { classifyAnswer, type Delivery, type Post } from '../src/alerts/post';
import { AlertWebhook, type WebhookPolicy } from '../src/alerts/webhook';
import { RecordingLogger } from './support/recording-logger';

const clock: Clock = { now: () => jest.now() };

interface Call {
  readonly at: number;
  readonly alert: Alert;
  readonly timeoutMs: number;
  settle(delivery: Delivery): void;
}

/** A POST that answers what the test says, when it says; it remembers every call. */
class ScriptedPost {
  readonly calls: Call[] = [];
  constructor(private readonly answer?: (call: number) => Delivery) {}

  readonly post: Post = (body, timeoutMs, signal) =>
    new Promise((resolve) => {
      const call: Call = { at: clock.now(), alert: JSON.parse(body) as Alert, timeoutMs, settle: resolve };
      this.calls.push(call);
      signal.addEventListener('abort', () => resolve({ kind: 'aborted' }), { once: true });
      const scripted = this.answer?.(this.calls.length);
      if (scripted) resolve(scripted);
    });
}

const sent: Delivery = { kind: 'sent', status: 200 };
const http500: Delivery = { kind: 'retry', reason: 'HTTP 500' };
const http400: Delivery = { kind: 'refused', reason: 'HTTP 400' };

function setup(post: ScriptedPost, policy: Partial<WebhookPolicy> = {}) {
  const logger = new RecordingLogger();
  let ids = 0;
  const webhook = new AlertWebhook(
    { url: 'http://receiver.test/alerts', format: 'json' },
    { logger, upstream: 'http://nginx:80', post: post.post, clock, host: 'monitor-1', newId: () => `id-${++ids}`, policy },
  );
  const breaker = new CircuitBreaker({ errorThreshold: 1, successThreshold: 1, openWindowMs: 1_000, clock });
  breaker.onTransition(webhook.transition);
  return { webhook, breaker, logger };
}

/** closed -> open, then (after the window) open -> half_open -> open: three transitions. */
function flap(breaker: CircuitBreaker, times = 1): void {
  for (let i = 0; i < times; i++) {
    const admission = breaker.tryAcquire();
    if (!admission.admitted) throw new Error('not admitted');
    breaker.record(admission.ticket, { ok: false, reason: 'ECONNREFUSED' });
    breaker.isolate();
    breaker.reset();
  }
}

function openCircuit(breaker: CircuitBreaker): void {
  const admission = breaker.tryAcquire();
  if (!admission.admitted) throw new Error('not admitted');
  breaker.record(admission.ticket, { ok: false, reason: 'ECONNREFUSED' });
}

it.each([
  [200, 'sent'],
  [204, 'sent'],
  [500, 'retry'],
  [503, 'retry'],
  [408, 'retry'],
  [429, 'retry'],
  [400, 'refused'],
  [401, 'refused'],
  [404, 'refused'],
  [302, 'refused'],
])('an answer %i is %s', (status, kind) => {
  expect(classifyAnswer(status).kind).toBe(kind);
});

beforeEach(() => jest.useFakeTimers({ now: 0 }));
afterEach(() => jest.useRealTimers());

it('queues the alert without posting it from inside the transition', async () => {
  const post = new ScriptedPost(() => sent);
  const { breaker, webhook } = setup(post);
  openCircuit(breaker);
  expect(post.calls).toHaveLength(0);
  expect(webhook.queued).toBe(1);
  await jest.advanceTimersByTimeAsync(0);
  expect(post.calls.map((call) => [call.alert.from, call.alert.to, call.alert.id])).toEqual([['closed', 'open', 'id-1']]);
  expect(webhook.totals).toEqual({ sent: 1, failed: 0, dropped: 0 });
});

it('sends one POST per transition, in order, one at a time', async () => {
  const post = new ScriptedPost();
  const { breaker, webhook } = setup(post);
  flap(breaker); // closed -> open -> isolated -> closed
  await jest.advanceTimersByTimeAsync(0);
  expect(post.calls).toHaveLength(1);
  post.calls[0]!.settle(sent);
  await jest.advanceTimersByTimeAsync(0);
  post.calls[1]!.settle(sent);
  await jest.advanceTimersByTimeAsync(0);
  post.calls[2]!.settle(sent);
  await jest.advanceTimersByTimeAsync(0);
  expect(post.calls.map((call) => `${call.alert.from}->${call.alert.to}`)).toEqual(['closed->open', 'open->isolated', 'isolated->closed']);
  expect(webhook.totals).toEqual({ sent: 3, failed: 0, dropped: 0 });
});

it('a transition after the queue ran empty starts the sender again', async () => {
  const post = new ScriptedPost(() => sent);
  const { breaker, webhook } = setup(post);
  openCircuit(breaker);
  await jest.advanceTimersByTimeAsync(0);
  expect(webhook.totals.sent).toBe(1);
  await jest.advanceTimersByTimeAsync(5_000);
  breaker.reset();
  await jest.advanceTimersByTimeAsync(0);
  expect(post.calls.map((call) => `${call.at} ${call.alert.to}`)).toEqual(['0 open', '5000 closed']);
  expect(webhook.totals).toEqual({ sent: 2, failed: 0, dropped: 0 });
});

it('retries a 5xx with exponential backoff, the same alert (same id) each time, then gives up and counts it failed', async () => {
  const post = new ScriptedPost(() => http500);
  const { breaker, webhook, logger } = setup(post, { attempts: 4, backoffMs: 1_000 });
  openCircuit(breaker);
  await jest.advanceTimersByTimeAsync(10_000);
  expect(post.calls.map((call) => call.at)).toEqual([0, 1_000, 3_000, 7_000]);
  expect(new Set(post.calls.map((call) => call.alert.id))).toEqual(new Set(['id-1']));
  expect(webhook.totals).toEqual({ sent: 0, failed: 1, dropped: 0 });
  expect(logger.messages()).toContain('warn alert not delivered: closed -> open (id id-1): HTTP 500 (try 4 of 4)');
});

it('stops retrying as soon as a try succeeds', async () => {
  const post = new ScriptedPost((call) => (call < 3 ? http500 : sent));
  const { breaker, webhook } = setup(post, { backoffMs: 100 });
  openCircuit(breaker);
  await jest.advanceTimersByTimeAsync(10_000);
  expect(post.calls.map((call) => call.at)).toEqual([0, 100, 300]);
  expect(webhook.totals).toEqual({ sent: 1, failed: 0, dropped: 0 });
});

it('does not retry a 4xx: counted failed after one try, and the next alert goes out', async () => {
  const post = new ScriptedPost((call) => (call === 1 ? http400 : sent));
  const { breaker, webhook, logger } = setup(post);
  openCircuit(breaker);
  breaker.isolate();
  await jest.advanceTimersByTimeAsync(10_000);
  expect(post.calls.map((call) => `${call.at} ${call.alert.to}`)).toEqual(['0 open', '0 isolated']);
  expect(webhook.totals).toEqual({ sent: 1, failed: 1, dropped: 0 });
  expect(logger.messages()).toContain('warn alert not delivered: closed -> open (id id-1): HTTP 400, not retried');
});

it('gives each POST the timeout of the policy', async () => {
  const post = new ScriptedPost(() => sent);
  const { breaker } = setup(post, { timeoutMs: 1_234 });
  openCircuit(breaker);
  await jest.advanceTimersByTimeAsync(0);
  expect(post.calls[0]!.timeoutMs).toBe(1_234);
});

it('keeps at most `capacity` alerts waiting: the oldest waiting one is dropped, counted and logged', async () => {
  const post = new ScriptedPost(); // never answers: the first alert stays in flight
  const { breaker, webhook, logger } = setup(post, { capacity: 3 });
  openCircuit(breaker); // 1 transition, in flight once the sender starts
  await jest.advanceTimersByTimeAsync(0);
  breaker.reset();
  flap(breaker, 3); // 10 more: 3 wait, 7 dropped
  expect(webhook.queued).toBe(3);
  expect(webhook.totals).toEqual({ sent: 0, failed: 0, dropped: 7 });
  expect(logger.messages().filter((line) => line.startsWith('warn alert dropped'))).toHaveLength(7);
  expect(logger.messages()[0]).toBe('warn alert dropped: open -> closed (id id-2): 3 alerts waiting, the oldest gives way');
  // the newest survive: the last three transitions of the flood are the ones waiting
  post.calls[0]!.settle(sent);
  for (let i = 0; i < 3; i++) {
    await jest.advanceTimersByTimeAsync(0);
    post.calls.at(-1)!.settle(sent);
  }
  await jest.advanceTimersByTimeAsync(0);
  expect(post.calls.map((call) => call.alert.id)).toEqual(['id-1', 'id-9', 'id-10', 'id-11']);
  expect(webhook.totals).toEqual({ sent: 4, failed: 0, dropped: 7 });
});

it('a breaker with a hung webhook keeps moving: every transition happens, none waits', () => {
  const post = new ScriptedPost();
  const { breaker } = setup(post, { capacity: 2 });
  const seen: string[] = [];
  breaker.onTransition((transition) => seen.push(transition.to));
  flap(breaker, 100);
  expect(seen).toHaveLength(300);
  expect(breaker.state).toBe('closed');
});

describe('close (shutdown)', () => {
  it('sends what is queued within the budget and resolves as soon as it is done', async () => {
    const post = new ScriptedPost(() => sent);
    const { breaker, webhook } = setup(post);
    flap(breaker); // 3 alerts queued, the sender not started yet
    const closed = webhook.close(500);
    await jest.advanceTimersByTimeAsync(0);
    await closed;
    expect(post.calls).toHaveLength(3);
    expect(webhook.totals).toEqual({ sent: 3, failed: 0, dropped: 0 });
    expect(jest.getTimerCount()).toBe(0);
  });

  it('cuts a backoff wait short and tries again at once', async () => {
    const post = new ScriptedPost((call) => (call === 1 ? http500 : sent));
    const { breaker, webhook } = setup(post, { backoffMs: 60_000 });
    openCircuit(breaker);
    await jest.advanceTimersByTimeAsync(10);
    expect(post.calls).toHaveLength(1);
    await webhook.close(500);
    expect(post.calls.map((call) => call.at)).toEqual([0, 10]);
    expect(webhook.totals).toEqual({ sent: 1, failed: 0, dropped: 0 });
  });

  it('gives a POST no more than what is left of the budget, then aborts it and drops the rest', async () => {
    const post = new ScriptedPost(); // hangs
    const { breaker, webhook, logger } = setup(post, { timeoutMs: 5_000 });
    flap(breaker); // 3 alerts
    await jest.advanceTimersByTimeAsync(0);
    let done = false;
    void webhook.close(500).then(() => (done = true));
    await jest.advanceTimersByTimeAsync(499);
    expect(done).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
    expect(post.calls).toHaveLength(1);
    expect(webhook.totals).toEqual({ sent: 0, failed: 0, dropped: 3 });
    expect(logger.messages()).toContain('warn alert webhook: 3 alerts not sent within the shutdown budget of 500 ms');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('a POST started during the flush gets only the time left', async () => {
    const post = new ScriptedPost();
    const { breaker, webhook } = setup(post, { timeoutMs: 5_000 });
    openCircuit(breaker);
    breaker.isolate();
    await jest.advanceTimersByTimeAsync(0);
    const closed = webhook.close(500);
    await jest.advanceTimersByTimeAsync(100);
    post.calls[0]!.settle(sent);
    await jest.advanceTimersByTimeAsync(0);
    expect(post.calls.map((call) => call.timeoutMs)).toEqual([5_000, 400]);
    post.calls[1]!.settle(sent);
    await closed;
    expect(webhook.totals).toEqual({ sent: 2, failed: 0, dropped: 0 });
  });

  it('a second close waits for the same flush', async () => {
    const post = new ScriptedPost();
    const { breaker, webhook } = setup(post);
    openCircuit(breaker);
    await jest.advanceTimersByTimeAsync(0);
    const first = webhook.close(500);
    expect(webhook.close(10)).toBe(first);
    await jest.advanceTimersByTimeAsync(500);
    await first;
    expect(webhook.totals).toEqual({ sent: 0, failed: 0, dropped: 1 });
  });

  it('counts alerts of transitions after close as dropped, without sending them', async () => {
    const post = new ScriptedPost(() => sent);
    const { breaker, webhook } = setup(post);
    await webhook.close(500);
    openCircuit(breaker);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(post.calls).toHaveLength(0);
    expect(webhook.totals).toEqual({ sent: 0, failed: 0, dropped: 1 });
  });
});

it('a POST that throws (a bug) is counted like a network error and the queue goes on', async () => {
  let calls = 0;
  const logger = new RecordingLogger();
  const webhook = new AlertWebhook(
    { url: 'http://receiver.test/', format: 'json' },
    { logger, upstream: 'http://nginx:80', clock, policy: { attempts: 1 }, post: () => (++calls === 1 ? Promise.reject(new Error('boom')) : Promise.resolve(sent)) },
  );
  const breaker = new CircuitBreaker({ errorThreshold: 1, clock });
  breaker.onTransition(webhook.transition);
  openCircuit(breaker);
  breaker.isolate();
  await jest.advanceTimersByTimeAsync(0);
  expect(webhook.totals).toEqual({ sent: 1, failed: 1, dropped: 0 });
  expect(logger.messages()[0]).toMatch(/^warn alert not delivered: closed -> open \(id [0-9a-f-]{36}\): Error: boom/);
});
