/**
 * POST /breaker/isolate and /breaker/reset against the real admin server on loopback: off without
 * ADMIN_TOKEN, 401 without the right bearer token, and with it a transition in the log and in /events.
 */
import { adminRig, type AdminRig } from './support/admin-rig';
import { call } from './support/raw-http';
import { SseClient } from './support/sse-client';

const TOKEN = 'test-admin-token-0123456789';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rig(env: Record<string, string> = {}): Promise<AdminRig> {
  const r = await adminRig(env);
  cleanups.push(() => r.close());
  return r;
}

const post = (r: AdminRig, action: string, authorization?: string) =>
  call(r.port, { method: 'POST', path: `/breaker/${action}`, headers: authorization === undefined ? {} : { Authorization: authorization } });

describe('without ADMIN_TOKEN', () => {
  it.each(['isolate', 'reset'])('%s is 403, says control is off, changes nothing and is logged', async (action) => {
    const r = await rig();
    const reply = await post(r, action, `Bearer ${TOKEN}`);
    expect(reply.status).toBe(403);
    expect(JSON.parse(reply.body)).toEqual({ error: 'control is off: the monitor has no ADMIN_TOKEN' });
    expect(r.breaker.state).toBe('closed');
    expect(r.logger.messages()).toEqual([`warn admin control refused: ${action} from 127.0.0.1: control is off: the monitor has no ADMIN_TOKEN`]);
  });
});

describe('with ADMIN_TOKEN', () => {
  it.each([
    ['no Authorization header', undefined, 'missing bearer token: send Authorization: Bearer <ADMIN_TOKEN>'],
    ['another scheme', `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`, 'missing bearer token: send Authorization: Bearer <ADMIN_TOKEN>'],
    ['an empty bearer token', 'Bearer ', 'missing bearer token: send Authorization: Bearer <ADMIN_TOKEN>'],
    ['a wrong token of the same length', `Bearer ${TOKEN.slice(0, -1)}X`, 'wrong token'],
    ['a shorter token', `Bearer ${TOKEN.slice(0, 16)}`, 'wrong token'],
    ['the token with more after it', `Bearer ${TOKEN}0`, 'wrong token'],
  ])('%s is 401, changes nothing and is logged', async (_, authorization, error) => {
    const r = await rig({ ADMIN_TOKEN: TOKEN });
    const reply = await post(r, 'isolate', authorization);
    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toMatch(/^Bearer realm="monitor"/);
    expect(JSON.parse(reply.body)).toEqual({ error });
    expect(r.breaker.state).toBe('closed');
    expect(r.logger.messages()).toEqual([`warn admin control refused: isolate from 127.0.0.1: ${error}`]);
  });

  it('the right token isolates, then resets: 200, a transition in the log and in /events, and the use logged', async () => {
    const r = await rig({ ADMIN_TOKEN: TOKEN });
    const events = await SseClient.connect(r.port);
    cleanups.push(() => events.close());
    await events.next('snapshot');

    const isolated = await post(r, 'isolate', `Bearer ${TOKEN}`);
    expect(isolated.status).toBe(200);
    expect(JSON.parse(isolated.body)).toEqual({ action: 'isolate', changed: true, from: 'closed', state: 'isolated' });
    expect(r.breaker.state).toBe('isolated');
    const toIsolated = await events.next('transition');
    expect(toIsolated.data).toMatchObject({ from: 'closed', to: 'isolated', cause: 'manual', status: { state: 'isolated' } });

    // the scheme's case does not matter (RFC 9110)
    const reset = await post(r, 'reset', `bearer ${TOKEN}`);
    expect(JSON.parse(reset.body)).toEqual({ action: 'reset', changed: true, from: 'isolated', state: 'closed' });
    const toClosed = await events.next('transition', events.events.indexOf(toIsolated) + 1);
    expect(toClosed.data).toMatchObject({ from: 'isolated', to: 'closed', cause: 'manual', message: 'Circuit changed from isolated to closed (manual: reset)' });

    const again = await post(r, 'reset', `Bearer ${TOKEN}`);
    expect(JSON.parse(again.body)).toEqual({ action: 'reset', changed: false, from: 'closed', state: 'closed' });

    expect(r.logger.messages()).toEqual([
      'info Circuit changed from closed to isolated (manual: isolated until reset)',
      'info admin control: isolate from 127.0.0.1: circuit closed -> isolated',
      'info Circuit changed from isolated to closed (manual: reset)',
      'info admin control: reset from 127.0.0.1: circuit isolated -> closed',
      'info admin control: reset from 127.0.0.1: circuit already closed',
    ]);
    expect(r.logger.lines[1]!.fields).toEqual({ event: 'control', action: 'isolate', client: '127.0.0.1', from: 'closed', to: 'isolated', changed: true });
  });

  it('only POST: another method is 405 with Allow, and is not an attempt', async () => {
    const r = await rig({ ADMIN_TOKEN: TOKEN });
    const reply = await call(r.port, { path: '/breaker/reset', headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe('POST');
    expect(r.logger.messages()).toEqual([]);
  });
});
