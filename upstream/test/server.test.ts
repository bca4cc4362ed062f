import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createUpstreamServer, type UpstreamServer } from '../src/server';

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

interface RequestOptions {
  readonly method?: string;
  readonly timeoutMs?: number;
  readonly agent?: Agent;
  /** Called once the request has been fully sent. */
  readonly onSent?: () => void;
}

/** Real HTTP on loopback; rejects with the socket error (`ECONNRESET`...) or `TIMEOUT`. */
function request(port: number, path: string, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', agent: options.agent ?? false });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.on('finish', () => options.onSent?.());
    if (options.timeoutMs !== undefined) {
      req.setTimeout(options.timeoutMs, () => req.destroy(Object.assign(new Error('client timeout'), { code: 'TIMEOUT' })));
    }
    req.end();
  });
}

const json = (reply: Reply): unknown => JSON.parse(reply.body);

const FIXED_TIME = new Date('2030-01-02T03:04:05.678Z');

describe('upstream server', () => {
  let upstream: UpstreamServer;
  let port: number;
  let logs: string[];

  beforeEach(async () => {
    logs = [];
    upstream = createUpstreamServer({ hostname: 'test-host', now: () => FIXED_TIME, log: (line) => logs.push(line) });
    ({ port } = await upstream.listen(0, '127.0.0.1'));
  });

  afterEach(() => upstream.close());

  const setFault = (path: string, method = 'PUT'): Promise<Reply> => request(port, path, { method });

  describe('endpoints', () => {
    it('GET / answers 200 with the service name, host name, time and mode', async () => {
      const reply = await request(port, '/');
      expect(reply.status).toBe(200);
      expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(json(reply)).toEqual({ service: 'upstream', host: 'test-host', time: '2030-01-02T03:04:05.678Z', mode: 'normal' });
    });

    it('HEAD / answers 200 without a body', async () => {
      const reply = await request(port, '/', { method: 'HEAD' });
      expect(reply.status).toBe(200);
      expect(reply.body).toBe('');
    });

    it('GET /health answers {"status":"ok"}', async () => {
      const reply = await request(port, '/health');
      expect(reply.status).toBe(200);
      expect(json(reply)).toEqual({ status: 'ok' });
    });

    it('GET /catalog answers a cacheable page, fit to serve stale on error (for PROXY_FALLBACK=stale)', async () => {
      const reply = await request(port, '/catalog');
      expect(reply.status).toBe(200);
      expect(reply.headers['cache-control']).toBe('max-age=5, stale-if-error=600');
      expect(json(reply)).toEqual({ service: 'upstream', catalog: ['circuit', 'breaker', 'demo'], generatedAt: '2030-01-02T03:04:05.678Z' });
    });

    it('GET /fault reports the current mode and the modes there are', async () => {
      expect(json(await request(port, '/fault'))).toEqual({
        mode: 'normal',
        modes: ['normal', 'error', 'client-error', 'hang', 'reset', 'slow', 'flaky'],
      });
    });

    it('answers 404 JSON for an unknown path', async () => {
      const reply = await request(port, '/nope?x=1');
      expect(reply.status).toBe(404);
      expect(json(reply)).toEqual({ error: 'no route for /nope' });
    });

    it('answers 405 with Allow for a method the path does not take', async () => {
      const post = await request(port, '/', { method: 'POST' });
      expect(post.status).toBe(405);
      expect(post.headers.allow).toBe('GET, HEAD');
      const get = await request(port, '/fault/error');
      expect(get.status).toBe(405);
      expect(get.headers.allow).toBe('PUT, POST');
      expect(upstream.fault()).toEqual({ mode: 'normal' });
    });

    it('logs one line per request with method, path, status and duration', async () => {
      await request(port, '/health');
      await request(port, '/missing');
      expect(logs).toEqual([
        expect.stringMatching(/^2030-01-02T03:04:05\.678Z GET \/health 200 \d+ms$/),
        expect.stringMatching(/ GET \/missing 404 \d+ms$/),
      ]);
    });
  });

  describe('fault switch', () => {
    it('PUT /fault/error makes GET / answer 500 while /health stays ok', async () => {
      const set = await setFault('/fault/error');
      expect(set.status).toBe(200);
      expect(json(set)).toEqual({ mode: 'error', status: 500 });
      const root = await request(port, '/');
      expect(root.status).toBe(500);
      expect(json(root)).toMatchObject({ service: 'upstream', mode: 'error', error: 'injected fault: error 500' });
      expect((await request(port, '/health')).status).toBe(200);
    });

    it('POST sets the mode as PUT does, and ?status= picks the 5xx', async () => {
      expect(json(await setFault('/fault/error?status=503', 'POST'))).toEqual({ mode: 'error', status: 503 });
      expect((await request(port, '/')).status).toBe(503);
      expect(json(await request(port, '/fault'))).toMatchObject({ mode: 'error', status: 503 });
    });

    it('client-error makes GET / answer 404, or the 4xx chosen with ?status=', async () => {
      await setFault('/fault/client-error');
      expect((await request(port, '/')).status).toBe(404);
      await setFault('/fault/client-error?status=429');
      expect((await request(port, '/')).status).toBe(429);
    });

    it('hang leaves GET / unanswered until the client gives up, and /health answers meanwhile', async () => {
      await setFault('/fault/hang');
      let sent!: () => void;
      const wasSent = new Promise<void>((resolve) => (sent = resolve));
      const hung = request(port, '/', { timeoutMs: 300, onSent: sent });
      await wasSent;
      const health = await request(port, '/health');
      expect(health.status).toBe(200);
      await expect(hung).rejects.toMatchObject({ code: 'TIMEOUT' });
    });

    it('reset makes GET / end in a TCP reset', async () => {
      await setFault('/fault/reset');
      await expect(request(port, '/')).rejects.toMatchObject({ code: 'ECONNRESET' });
      expect((await request(port, '/health')).status).toBe(200);
      expect(logs).toContainEqual(expect.stringMatching(/ GET \/ reset \d+ms$/));
    });

    it('normal brings GET / back to 200', async () => {
      await setFault('/fault/error');
      expect(json(await setFault('/fault/normal'))).toEqual({ mode: 'normal' });
      expect((await request(port, '/')).status).toBe(200);
    });

    it('refuses an unknown mode with 400 and the list of modes, keeping the current one', async () => {
      await setFault('/fault/error');
      const reply = await setFault('/fault/sluggish');
      expect(reply.status).toBe(400);
      expect(json(reply)).toEqual({ error: 'unknown fault mode "sluggish"', modes: ['normal', 'error', 'client-error', 'hang', 'reset', 'slow', 'flaky'] });
      expect(upstream.fault()).toEqual({ mode: 'error', status: 500 });
    });

    it('refuses a status outside the mode\'s range with 400', async () => {
      const reply = await setFault('/fault/client-error?status=500');
      expect(reply.status).toBe(400);
      expect(json(reply)).toMatchObject({ error: 'status for "client-error" must be 400-499, got "500"' });
    });

    it('slow answers 200 after ?ms=', async () => {
      expect(json(await setFault('/fault/slow?ms=150'))).toEqual({ mode: 'slow', ms: 150 });
      const started = performance.now();
      const reply = await request(port, '/');
      expect(performance.now() - started).toBeGreaterThanOrEqual(145);
      expect(reply.status).toBe(200);
      expect(json(reply)).toMatchObject({ service: 'upstream', mode: 'slow' });
      expect(logs).toContainEqual('2030-01-02T03:04:05.678Z fault mode normal -> slow 150 ms');
    });

    it('error answers carry ?retryAfter= as Retry-After, in seconds or as an HTTP date', async () => {
      await setFault('/fault/error?status=503&retryAfter=5');
      const seconds = await request(port, '/');
      expect(seconds.status).toBe(503);
      expect(seconds.headers['retry-after']).toBe('5');
      await setFault(`/fault/client-error?status=429&retryAfter=${encodeURIComponent('Tue, 01 Dec 2026 10:00:30 GMT')}`);
      const date = await request(port, '/');
      expect(date.status).toBe(429);
      expect(date.headers['retry-after']).toBe('Tue, 01 Dec 2026 10:00:30 GMT');
      await setFault('/fault/error');
      expect((await request(port, '/')).headers).not.toHaveProperty('retry-after');
    });

    it('refuses a retryAfter that is neither seconds nor an HTTP date, and one on a mode without errors', async () => {
      expect(json(await setFault('/fault/error?retryAfter=soon'))).toMatchObject({ error: expect.stringMatching(/^retryAfter must be whole seconds or an HTTP date/) });
      expect(json(await setFault('/fault/slow?retryAfter=5'))).toEqual({
        error: 'fault mode "slow" takes no retryAfter',
        modes: ['normal', 'error', 'client-error', 'hang', 'reset', 'slow', 'flaky'],
      });
    });

    it('logs each mode change', async () => {
      await setFault('/fault/client-error?status=429');
      expect(logs).toContainEqual('2030-01-02T03:04:05.678Z fault mode normal -> client-error 429');
    });
  });

  describe('flaky', () => {
    it('fails ?percent= of the requests at random (the random source injected), with ?status= and ?retryAfter=', async () => {
      const draws = [0.1, 0.59, 0.6, 0.99];
      const flaky = createUpstreamServer({ hostname: 'test-host', now: () => FIXED_TIME, random: () => draws.shift()! });
      const { port: flakyPort } = await flaky.listen(0, '127.0.0.1');
      try {
        const set = await request(flakyPort, '/fault/flaky?percent=60&status=503&retryAfter=2', { method: 'PUT' });
        expect(json(set)).toEqual({ mode: 'flaky', percent: 60, status: 503, retryAfter: '2' });
        const replies = [];
        for (let i = 0; i < 4; i += 1) replies.push(await request(flakyPort, '/'));
        expect(replies.map((reply) => reply.status)).toEqual([503, 503, 200, 200]);
        expect(replies[0]?.headers['retry-after']).toBe('2');
        expect(replies[2]?.headers).not.toHaveProperty('retry-after');
      } finally {
        await flaky.close();
      }
    });

    it('defaults to 50% and 500; refuses a percent outside 0-100', async () => {
      expect(json(await setFault('/fault/flaky'))).toEqual({ mode: 'flaky', percent: 50, status: 500 });
      expect(json(await setFault('/fault/flaky?percent=101'))).toMatchObject({ error: 'percent for "flaky" must be 0-100, got "101"' });
    });
  });

  describe('close', () => {
    // A grace longer than the test (jest gives it 5 s): close() can end only by cutting the
    // connections itself, at once, not when the grace or the answer's 60 s runs out.
    const LONGER_THAN_THE_TEST_MS = 60_000;

    it('cuts a slow request at once', async () => {
      await setFault('/fault/slow?ms=60000');
      const slow = request(port, '/');
      await new Promise((resolve) => setImmediate(resolve));
      await expect(request(port, '/health')).resolves.toMatchObject({ status: 200 });
      await upstream.close(LONGER_THAN_THE_TEST_MS);
      await expect(slow).rejects.toMatchObject({ code: 'ECONNRESET' });
    });

    it('closes idle keep-alive connections at once', async () => {
      const agent = new Agent({ keepAlive: true });
      try {
        await request(port, '/health', { agent });
        await upstream.close(LONGER_THAN_THE_TEST_MS);
      } finally {
        agent.destroy();
      }
    });

    it('cuts hanging requests at once and leaves nothing behind', async () => {
      await setFault('/fault/hang');
      const hung = request(port, '/');
      await new Promise((resolve) => setImmediate(resolve));
      await expect(request(port, '/health')).resolves.toMatchObject({ status: 200 });
      await upstream.close(LONGER_THAN_THE_TEST_MS);
      await expect(hung).rejects.toMatchObject({ code: 'ECONNRESET' });
      expect(logs).toContainEqual(expect.stringMatching(/ GET \/ hang \d+ms$/));
    });
  });
});
