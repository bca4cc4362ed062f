import type { Transition } from '@circuit-breaker-demo/breaker';
import { alertBody, alertOf } from '../src/alerts/alert';

const context = { upstream: 'http://nginx:80', route: 'default', host: 'a24adfde33a6', wallTimeMs: Date.UTC(2026, 11, 1, 9, 30), id: '5b0f2c1e-0d7c-4c8e-9d0c-6a1f0e2b7c11' };

const opened: Transition = {
  from: 'closed',
  to: 'open',
  at: 12_345.6,
  cause: { kind: 'failures', failures: 3, lastReason: 'ENOTFOUND' },
  openForMs: 10_000,
};

it('an opening names the cause, the last reason, the wall-clock time, the upstream, the host and the trial delay', () => {
  expect(alertOf(opened, context)).toEqual({
    id: '5b0f2c1e-0d7c-4c8e-9d0c-6a1f0e2b7c11',
    from: 'closed',
    to: 'open',
    cause: 'failures',
    reason: 'ENOTFOUND',
    message: 'Circuit changed from closed to open (3 consecutive failures, last: ENOTFOUND; trial in 10 s)',
    at: '2026-12-01T09:30:00.000Z',
    upstream: 'http://nginx:80',
    route: 'default',
    host: 'a24adfde33a6',
    retryInSeconds: 10,
  });
});

it('names the route whose breaker changed; the slack text names it too, past the default route', () => {
  const alert = alertOf(opened, { ...context, route: 'reviews', upstream: 'http://reviews:3000' });
  expect(alert).toMatchObject({ route: 'reviews', upstream: 'http://reviews:3000' });
  expect((JSON.parse(alertBody(alert, 'slack')) as { text: string }).text).toMatch(/^:red_circle: route reviews: Circuit changed from closed to open /);
  expect((JSON.parse(alertBody(alertOf(opened, context), 'slack')) as { text: string }).text).toMatch(/^:red_circle: Circuit changed/);
});

it.each<[Transition, { cause: string; reason: string | null; retryInSeconds: number | null }]>([
  [{ from: 'open', to: 'half_open', at: 1, cause: { kind: 'window_elapsed' } }, { cause: 'window_elapsed', reason: null, retryInSeconds: null }],
  [
    { from: 'half_open', to: 'open', at: 1, cause: { kind: 'trial_failed', lastReason: 'HTTP 502' }, openForMs: 2_500 },
    { cause: 'trial_failed', reason: 'HTTP 502', retryInSeconds: 2.5 },
  ],
  [{ from: 'half_open', to: 'closed', at: 1, cause: { kind: 'trials_succeeded', successes: 3 } }, { cause: 'trials_succeeded', reason: null, retryInSeconds: null }],
  [{ from: 'closed', to: 'isolated', at: 1, cause: { kind: 'manual' } }, { cause: 'manual', reason: null, retryInSeconds: null }],
])('%o becomes an alert with its cause and reason', (transition, expected) => {
  expect(alertOf(transition, context)).toMatchObject({ from: transition.from, to: transition.to, ...expected });
});

it('the json body is the alert object', () => {
  const alert = alertOf(opened, context);
  expect(JSON.parse(alertBody(alert, 'json'))).toEqual(alert);
});

it('the slack body is one text line with the state, the message, the upstream and the host', () => {
  expect(JSON.parse(alertBody(alertOf(opened, context), 'slack'))).toEqual({
    text:
      ':red_circle: Circuit changed from closed to open (3 consecutive failures, last: ENOTFOUND; trial in 10 s): ' +
      'upstream http://nginx:80, monitor a24adfde33a6, at 2026-12-01T09:30:00.000Z',
  });
});
