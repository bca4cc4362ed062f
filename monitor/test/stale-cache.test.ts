import { cacheControl, fallbackHeaders, notStorable, StaleCache, type CacheRequest } from '../src/proxy/stale-cache';

function request(url: string, headers: Record<string, string> = {}, method = 'GET'): CacheRequest {
  return { method, url, header: (name) => headers[name] };
}

const OK_HEADERS = ['Content-Type', 'application/json'];

function put(cache: StaleCache, req: CacheRequest, body: string, headers: readonly string[] = OK_HEADERS, status = 200): boolean {
  const recorder = cache.record(req, status, headers);
  if (recorder === undefined) return false;
  recorder.write(Buffer.from(body));
  recorder.end();
  return true;
}

function setup(maxBytes = 10_000) {
  const clock = { wall: 1_700_000_000_000 };
  const cache = new StaleCache({ maxBytes, maxEntryBytes: maxBytes, now: () => clock.wall });
  return { cache, clock };
}

describe('what is stored', () => {
  it('stores a whole 200 answer to a GET and serves it to GET and HEAD', () => {
    const { cache } = setup();
    expect(put(cache, request('/a'), 'alpha')).toBe(true);
    expect(cache.lookup(request('/a'))?.body.toString()).toBe('alpha');
    expect(cache.lookup(request('/a', {}, 'HEAD'))?.status).toBe(200);
    expect(cache.lookup(request('/b'))).toBeUndefined();
    expect(cache.lookup(request('/a', {}, 'POST'))).toBeUndefined();
  });

  it.each([
    ['no-store', request('/'), 200, ['Cache-Control', 'max-age=60, no-store']],
    ['private', request('/'), 200, ['Cache-Control', 'private']],
    ['Set-Cookie', request('/'), 200, ['Set-Cookie', 'session=1']],
    ['Authorization without public', request('/', { authorization: 'Bearer x' }), 200, []],
    ['Vary: *', request('/'), 200, ['Vary', 'Accept, *']],
    ['status 404', request('/'), 404, []],
    ['status 500', request('/'), 500, []],
    ['not a GET', request('/', {}, 'POST'), 200, []],
  ] as const)('never stores an answer with %s', (why, req, status, headers) => {
    expect(notStorable(req, status, headers)).toBe(why);
    const { cache } = setup();
    expect(put(cache, req, 'x', headers, status)).toBe(false);
    expect(cache.size).toBe(0);
  });

  it('stores an answer to an authorized request when the answer says public', () => {
    const { cache } = setup();
    expect(put(cache, request('/', { authorization: 'Bearer x' }), 'shared', ['Cache-Control', 'public, max-age=10'])).toBe(true);
  });

  it('limits an entry to a quarter of the cache by default, and to 1 MiB', () => {
    expect(new StaleCache({ maxBytes: 4_000 }).maxEntryBytes).toBe(1_000);
    expect(new StaleCache({ maxBytes: 16 * 1024 * 1024 }).maxEntryBytes).toBe(1024 * 1024);
  });

  it('does not store a body larger than the entry limit, announced or streamed', () => {
    const cache = new StaleCache({ maxBytes: 10_000, maxEntryBytes: 1_000 });
    expect(cache.record(request('/big'), 200, ['Content-Length', '5000'])).toBeUndefined();
    const recorder = cache.record(request('/big'), 200, [])!;
    for (let i = 0; i < 20; i += 1) recorder.write(Buffer.alloc(100));
    recorder.end();
    expect(cache.size).toBe(0);
  });

  it('stores nothing of an answer that broke off, or ended short of its Content-Length', () => {
    const { cache } = setup();
    const cut = cache.record(request('/cut'), 200, [])!;
    cut.write(Buffer.from('half'));
    cut.abandon();
    cut.end();
    const short = cache.record(request('/short'), 200, ['Content-Length', '10'])!;
    short.write(Buffer.from('only5'));
    short.end();
    expect(cache.size).toBe(0);
  });

  it('keeps the last good answer: a new one replaces the old once the old is a second old', () => {
    const { cache, clock } = setup();
    put(cache, request('/a'), 'old');
    clock.wall += 999;
    expect(put(cache, request('/a'), 'too soon')).toBe(false);
    clock.wall += 1;
    put(cache, request('/a'), 'new');
    expect(cache.size).toBe(1);
    expect(cache.lookup(request('/a'))?.body.toString()).toBe('new');
  });

  it('does not record again while the entry is fresh by its max-age (a hot URL costs next to nothing)', () => {
    const { cache, clock } = setup();
    put(cache, request('/a'), 'v1', ['Cache-Control', 'max-age=10']);
    clock.wall += 9_999;
    expect(cache.record(request('/a'), 200, ['Cache-Control', 'max-age=10'])).toBeUndefined();
    clock.wall += 1;
    expect(put(cache, request('/a'), 'v2', ['Cache-Control', 'max-age=10'])).toBe(true);
  });
});

describe('Vary', () => {
  it('keeps variants apart by the request headers the answer varies on', () => {
    const { cache } = setup();
    const vary = ['Vary', 'Accept-Language'];
    put(cache, request('/page', { 'accept-language': 'en' }), 'hello', vary);
    put(cache, request('/page', { 'accept-language': 'fr' }), 'bonjour', vary);
    expect(cache.lookup(request('/page', { 'accept-language': 'fr' }))?.body.toString()).toBe('bonjour');
    expect(cache.lookup(request('/page', { 'accept-language': 'en' }))?.body.toString()).toBe('hello');
    expect(cache.lookup(request('/page', { 'accept-language': 'de' }))).toBeUndefined();
    expect(cache.lookup(request('/page'))).toBeUndefined();
  });

  it('drops the old variants when the Vary of a URL changes', () => {
    const { cache } = setup();
    put(cache, request('/page', { 'accept-language': 'en' }), 'hello', ['Vary', 'Accept-Language']);
    put(cache, request('/page'), 'plain');
    expect(cache.size).toBe(1);
    expect(cache.lookup(request('/page', { 'accept-language': 'en' }))?.body.toString()).toBe('plain');
  });
});

describe('stale-if-error', () => {
  it('limits how long past its freshness an entry may be served', () => {
    const { cache, clock } = setup();
    put(cache, request('/s'), 'fresh for 10 s, then 20 s on error', ['Cache-Control', 'max-age=10, stale-if-error=20']);
    clock.wall += 30_000;
    expect(cache.lookup(request('/s'))).toBeDefined();
    clock.wall += 1;
    expect(cache.lookup(request('/s'))).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('without it, an entry is served however old, with its Age', () => {
    const { cache, clock } = setup();
    put(cache, request('/s'), 'kept', ['Age', '5']);
    clock.wall += 3_600_000;
    const entry = cache.lookup(request('/s'))!;
    expect(cache.ageOf(entry)).toBe(3_605);
  });
});

describe('the byte bound', () => {
  it('evicts the least recently used first and never holds more than maxBytes', () => {
    // each entry: 200 body bytes, 28 header bytes and 512 counted for the entry itself
    const { cache } = setup(3_000);
    const body = 'x'.repeat(200);
    for (let i = 0; i < 4; i += 1) put(cache, request(`/${i}`), body);
    expect(cache.size).toBe(4);
    cache.lookup(request('/0'));
    put(cache, request('/4'), body);
    expect(cache.size).toBe(4);
    expect(cache.bytes).toBeLessThanOrEqual(3_000);
    expect(cache.lookup(request('/0'))).toBeDefined();
    expect(cache.lookup(request('/1'))).toBeUndefined();
    for (let i = 0; i < 500; i += 1) {
      put(cache, request(`/many/${i}`), 'y'.repeat(i % 230));
      expect(cache.bytes).toBeLessThanOrEqual(3_000);
    }
  });

  it('with maxBytes 0 stores nothing', () => {
    const { cache } = setup(0);
    expect(put(cache, request('/'), 'x')).toBe(false);
  });
});

describe('what a served fallback says', () => {
  it('has Age and a Cache-Status that names the monitor and why, instead of stored ones', () => {
    const { cache } = setup();
    put(cache, request('/'), 'body', ['Content-Type', 'text/plain', 'Age', '3', 'Cache-Status', 'origin; hit']);
    const headers = fallbackHeaders(cache.lookup(request('/'))!, 42, 'circuit-open');
    expect(headers).toEqual(['Content-Type', 'text/plain', 'Age', '42', 'Cache-Status', 'circuit-breaker-monitor; hit; detail="fallback: circuit-open"']);
  });
});

it('reads Cache-Control directives with and without values', () => {
  expect([...cacheControl('Max-Age=60, no-store, stale-if-error="5"')]).toEqual([
    ['max-age', '60'],
    ['no-store', ''],
    ['stale-if-error', '5'],
  ]);
});
