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

describe('with several routes (SPEC "Routes"): ?route= names the one to act on', () => {
  const ROUTES = ['catalog', 'reviews'];
  const several = async (): Promise<AdminRig> => {
    const r = await adminRig({ ADMIN_TOKEN: TOKEN }, {}, { routes: ROUTES });
    cleanups.push(() => r.close());
    return r;
  };
  const postTo = (r: AdminRig, target: string) => call(r.port, { method: 'POST', path: target, headers: { Authorization: `Bearer ${TOKEN}` } });
  const states = (r: AdminRig) => r.routes.map((route) => `${route.name} ${route.breaker.state}`);

  it('isolates and resets the named route alone, says which in the answer, the log line and /events', async () => {
    const r = await several();
    const events = await SseClient.connect(r.port);
    cleanups.push(() => events.close());
    await events.next('snapshot');

    const isolated = await postTo(r, '/breaker/isolate?route=reviews');
    expect(isolated.status).toBe(200);
    expect(JSON.parse(isolated.body)).toEqual({ action: 'isolate', route: 'reviews', changed: true, from: 'closed', state: 'isolated' });
    expect(states(r)).toEqual(['catalog closed', 'reviews isolated']);
    expect((await events.next('transition')).data).toMatchObject({ route: 'reviews', from: 'closed', to: 'isolated' });

    const reset = await postTo(r, '/breaker/reset?route=reviews');
    expect(JSON.parse(reset.body)).toEqual({ action: 'reset', route: 'reviews', changed: true, from: 'isolated', state: 'closed' });
    expect(JSON.parse((await postTo(r, '/breaker/reset?route=catalog')).body)).toEqual({ action: 'reset', route: 'catalog', changed: false, from: 'closed', state: 'closed' });
    expect(r.logger.messages()).toEqual([
      'info [reviews] Circuit changed from closed to isolated (manual: isolated until reset)',
      'info [reviews] admin control: isolate from 127.0.0.1: circuit closed -> isolated',
      'info [reviews] Circuit changed from isolated to closed (manual: reset)',
      'info [reviews] admin control: reset from 127.0.0.1: circuit isolated -> closed',
      'info [catalog] admin control: reset from 127.0.0.1: circuit already closed',
    ]);
    expect(r.logger.lines[1]!.fields).toEqual({ event: 'control', action: 'isolate', client: '127.0.0.1', from: 'closed', to: 'isolated', changed: true, route: 'reviews' });
  });

  it.each([
    ['no route', '/breaker/isolate', 400, 'this monitor has several routes: say which with ?route=NAME (routes: catalog, reviews)'],
    ['an empty route', '/breaker/isolate?route=', 404, 'no route named "" (routes: catalog, reviews)'],
    ['a route the file does not have', '/breaker/isolate?route=ratings', 404, 'no route named "ratings" (routes: catalog, reviews)'],
    ['a prefix instead of a name', '/breaker/isolate?route=%2Freviews%2F', 404, 'no route named "/reviews/" (routes: catalog, reviews)'],
    ['two routes', '/breaker/isolate?route=catalog&route=reviews', 400, 'one route at a time: route is given 2 times (routes: catalog, reviews)'],
  ])('%s: %s is refused, names the routes, changes nothing and is logged', async (_, target, status, error) => {
    const r = await several();
    const reply = await postTo(r, target);
    expect(reply.status).toBe(status);
    expect(JSON.parse(reply.body)).toEqual({ error, routes: ROUTES });
    expect(states(r)).toEqual(['catalog closed', 'reviews closed']);
    expect(r.logger.messages()).toEqual([`warn admin control refused: isolate from 127.0.0.1: ${error}`]);
  });

  it('the token comes first: a wrong one is 401 whatever the route says', async () => {
    const r = await several();
    const reply = await call(r.port, { method: 'POST', path: '/breaker/isolate?route=ratings', headers: { Authorization: `Bearer ${TOKEN}X` } });
    expect(reply.status).toBe(401);
  });
});

describe('with one route, ?route= may be left out or name it', () => {
  it.each([
    ['/breaker/isolate?route=default', 200],
    ['/breaker/isolate?route=catalog', 404],
  ])('%s is %s', async (target, status) => {
    const r = await rig({ ADMIN_TOKEN: TOKEN });
    const reply = await call(r.port, { method: 'POST', path: target, headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(reply.status).toBe(status);
    if (status === 200) expect(JSON.parse(reply.body)).toEqual({ action: 'isolate', changed: true, from: 'closed', state: 'isolated' });
    else expect(JSON.parse(reply.body)).toEqual({ error: 'no route named "catalog" (routes: default)', routes: ['default'] });
  });
});

describe('Origin (SPEC "Admin API: who may ask")', () => {
  const postFrom = (r: AdminRig, headers: Record<string, string>) =>
    call(r.port, { method: 'POST', path: '/breaker/isolate', headers: { Authorization: `Bearer ${TOKEN}`, ...headers } });

  it.each([
    ['no Origin (curl, scripts)', {}],
    ['its own origin', { Origin: 'http://127.0.0.1:PORT' }],
    ['its own origin under localhost', { Host: 'localhost:PORT', Origin: 'http://localhost:PORT' }],
    ['its own origin in another case', { Host: 'LOCALHOST:PORT', Origin: 'http://Localhost:PORT' }],
    ['its own origin under IPv6', { Host: '[::1]:PORT', Origin: 'http://[::1]:PORT' }],
    ['the default port, written in Host and not in Origin', { Host: 'localhost:80', Origin: 'http://localhost' }],
    ['the default port, written in neither', { Host: 'monitor', Origin: 'http://monitor' }],
  ])('%s: the right token is accepted', async (_, headers: Record<string, string>) => {
    const r = await rig({ ADMIN_TOKEN: TOKEN, ADMIN_ALLOWED_HOSTS: 'monitor' });
    const reply = await postFrom(r, Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, value.replace('PORT', String(r.port))])));
    expect(reply.status).toBe(200);
    expect(r.breaker.state).toBe('isolated');
  });

  it.each([
    ['another site', { Origin: 'https://rebind.example' }],
    ['an opaque origin (sandboxed frame, file:)', { Origin: 'null' }],
    ['another scheme', { Origin: 'https://127.0.0.1:PORT' }],
    ['another port', { Origin: 'http://127.0.0.1:1' }],
    ['no port: 80', { Origin: 'http://127.0.0.1' }],
    ['another allowed name', { Origin: 'http://localhost:PORT' }],
    ['its own origin with a path', { Origin: 'http://127.0.0.1:PORT/' }],
    ['two origins', { Origin: 'http://127.0.0.1:PORT, https://rebind.example' }],
  ])('%s: 403 with the right token, nothing changed, logged, and no CORS header', async (_, headers: Record<string, string>) => {
    const r = await rig({ ADMIN_TOKEN: TOKEN });
    const origin = headers.Origin!.replace('PORT', String(r.port));
    const reply = await postFrom(r, { Origin: origin });
    expect(reply.status).toBe(403);
    expect(JSON.parse(reply.body)).toEqual({ error: `cross-origin call refused: Origin ${JSON.stringify(origin)} is not this monitor's (http://127.0.0.1:${r.port})` });
    expect(r.breaker.state).toBe('closed');
    expect(reply.rawHeaders.filter((name, i) => i % 2 === 0 && /^access-control-/i.test(name))).toEqual([]);
    expect(r.logger.messages()).toEqual([`warn admin control refused: isolate from 127.0.0.1: ${JSON.parse(reply.body).error}`]);
  });

  it('a CORS preflight gets no CORS header: a page of another origin cannot send the token at all', async () => {
    const r = await rig({ ADMIN_TOKEN: TOKEN });
    for (const path of ['/breaker/isolate', '/status', '/events']) {
      const reply = await call(r.port, {
        method: 'OPTIONS',
        path,
        headers: { Origin: 'https://rebind.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization' },
      });
      expect([path, reply.status]).toEqual([path, 405]);
      expect(reply.rawHeaders.filter((name, i) => i % 2 === 0 && /^access-control-/i.test(name))).toEqual([]);
    }
  });
});

describe('wrong tokens slow their client down (SPEC "Admin API: who may ask")', () => {
  const WRONG = `Bearer ${TOKEN.slice(0, -1)}X`;
  const from = (r: AdminRig, localAddress: string, authorization?: string) =>
    call(r.port, { method: 'POST', path: '/breaker/isolate', localAddress, headers: authorization === undefined ? {} : { Authorization: authorization } });

  it('5 failures within a minute, then 429 with Retry-After until the minute from the first is over, even for the right token; logged once', async () => {
    const r = await rig({ ADMIN_TOKEN: TOKEN });
    for (let i = 0; i < 4; i += 1) expect((await from(r, '127.0.0.1', WRONG)).status).toBe(401);
    r.clock.advance(20_000);
    // a missing token counts too: it is a failed attempt like any other
    expect((await from(r, '127.0.0.1')).status).toBe(401);

    const slowed = await from(r, '127.0.0.1', `Bearer ${TOKEN}`);
    expect(slowed.status).toBe(429);
    expect(slowed.headers['retry-after']).toBe('40');
    expect(slowed.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(slowed.body)).toEqual({ error: 'too many failed attempts from 127.0.0.1: try again in 40 s' });
    expect(r.breaker.state).toBe('closed');

    r.clock.advance(39_500);
    const last = await from(r, '127.0.0.1', WRONG);
    expect([last.status, last.headers['retry-after']]).toEqual([429, '1']);
    r.clock.advance(499);
    expect((await from(r, '127.0.0.1', `Bearer ${TOKEN}`)).status).toBe(429);
    r.clock.advance(1);
    expect((await from(r, '127.0.0.1', `Bearer ${TOKEN}`)).status).toBe(200);
    expect(r.breaker.state).toBe('isolated');

    const lines = r.logger.messages().filter((line) => !line.startsWith('info Circuit changed'));
    expect(lines).toEqual([
      ...Array.from({ length: 4 }, () => 'warn admin control refused: isolate from 127.0.0.1: wrong token'),
      'warn admin control refused: isolate from 127.0.0.1: missing bearer token: send Authorization: Bearer <ADMIN_TOKEN>',
      'warn admin control slowed down: 5 failed attempts from 127.0.0.1 within 60 s: its calls get 429 for 40 s',
      'info admin control: isolate from 127.0.0.1: circuit closed -> isolated',
    ]);
    expect(r.logger.lines.find((line) => line.msg.startsWith('admin control slowed down'))?.fields).toEqual({
      event: 'control',
      client: '127.0.0.1',
      status: 429,
      failures: 5,
      retryAfterSeconds: 40,
    });
  });

  it('failures spread over more than a minute, or a right token between them, do not add up', async () => {
    const r = await rig({ ADMIN_TOKEN: TOKEN });
    for (let i = 0; i < 4; i += 1) await from(r, '127.0.0.1', WRONG);
    r.clock.advance(60_000);
    for (let i = 0; i < 4; i += 1) expect((await from(r, '127.0.0.1', WRONG)).status).toBe(401);
    expect((await from(r, '127.0.0.1', `Bearer ${TOKEN}`)).status).toBe(200);
    for (let i = 0; i < 4; i += 1) expect((await from(r, '127.0.0.1', WRONG)).status).toBe(401);
    expect((await from(r, '127.0.0.1', `Bearer ${TOKEN}`)).status).toBe(200);
  });

  it("another address's failures never slow the right token down: 127.0.0.2 gets 429 while 127.0.0.1 is answered", async () => {
    const r = await rig({ ADMIN_TOKEN: TOKEN });
    for (let i = 0; i < 5; i += 1) expect((await from(r, '127.0.0.2', WRONG)).status).toBe(401);
    expect((await from(r, '127.0.0.2', `Bearer ${TOKEN}`)).status).toBe(429);
    expect((await from(r, '127.0.0.1', WRONG)).status).toBe(401);
    expect((await from(r, '127.0.0.1', `Bearer ${TOKEN}`)).status).toBe(200);
    expect(r.breaker.state).toBe('isolated');
    expect((await from(r, '127.0.0.2', `Bearer ${TOKEN}`)).status).toBe(429);
  });

  it('many addresses: the memory stays bounded, a counted address stays slowed, and a right token from a new one is still accepted', async () => {
    const r = await adminRig({ ADMIN_TOKEN: TOKEN }, {}, { tokenSlowdown: { maxClients: 16 } });
    cleanups.push(() => r.close());
    for (let i = 0; i < 5; i += 1) await from(r, '127.0.0.2', WRONG);
    for (let i = 10; i < 70; i += 1) expect((await from(r, `127.0.1.${i}`, WRONG)).status).toBe(401);
    expect(r.admin.control.slowdown.clients).toBe(16);
    expect((await from(r, '127.0.0.2', `Bearer ${TOKEN}`)).status).toBe(429);
    expect((await from(r, '127.0.0.1', `Bearer ${TOKEN}`)).status).toBe(200);
    r.clock.advance(60_000);
    expect(r.admin.control.slowdown.clients).toBe(0);
    expect((await from(r, '127.0.0.2', `Bearer ${TOKEN}`)).status).toBe(200);
  });
});
