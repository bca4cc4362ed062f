import { classifyStatus, createProbe, type ProbeResult } from '../src/probe/probe';
import { closedPort, startServer, type TestServer } from './support/http-server';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function serve(handler: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const server = await startServer(handler);
  servers.push(server);
  return server;
}

function probeOnce(url: string, options: { timeoutMs?: number; acceptClientErrors?: boolean; signal?: AbortSignal } = {}): Promise<ProbeResult> {
  const probe = createProbe({ url, timeoutMs: options.timeoutMs ?? 2_000, acceptClientErrors: options.acceptClientErrors ?? false });
  return probe(options.signal ?? new AbortController().signal);
}

const answering = (status: number, headers: Record<string, string> = {}) =>
  serve((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end('{"service":"test"}');
  });

describe('HTTP answers', () => {
  it('200 is a success with its status and latency', async () => {
    const server = await answering(200);
    const result = await probeOnce(`${server.url}/`);
    expect(result).toEqual({ kind: 'success', status: 200, latencyMs: expect.any(Number) });
  });

  it('301 is a success and the redirect is not followed', async () => {
    let requests = 0;
    const server = await serve((req, res) => {
      requests += 1;
      res.writeHead(301, { location: '/elsewhere' });
      res.end();
    });
    expect(await probeOnce(`${server.url}/`)).toMatchObject({ kind: 'success', status: 301 });
    expect(requests).toBe(1);
  });

  it('404 is a failure with ACCEPT_CLIENT_ERRORS=false', async () => {
    const server = await answering(404);
    expect(await probeOnce(`${server.url}/`, { acceptClientErrors: false })).toMatchObject({ kind: 'failure', reason: 'HTTP 404', status: 404 });
  });

  it('404 is a success with ACCEPT_CLIENT_ERRORS=true', async () => {
    const server = await answering(404);
    expect(await probeOnce(`${server.url}/`, { acceptClientErrors: true })).toMatchObject({ kind: 'success', status: 404 });
  });

  it.each([500, 502, 503, 504])('%i is a failure, also with ACCEPT_CLIENT_ERRORS=true', async (status) => {
    const server = await answering(status);
    expect(await probeOnce(`${server.url}/`, { acceptClientErrors: true })).toMatchObject({ kind: 'failure', reason: `HTTP ${status}`, status });
  });
});

describe('network faults', () => {
  it('a closed port is ECONNREFUSED', async () => {
    expect(await probeOnce(`http://127.0.0.1:${await closedPort()}/`)).toMatchObject({ kind: 'failure', reason: 'ECONNREFUSED' });
  });

  it('an unresolvable host is ENOTFOUND', async () => {
    expect(await probeOnce('http://upstream.invalid:80/')).toMatchObject({ kind: 'failure', reason: expect.stringMatching(/^(ENOTFOUND|EAI_AGAIN)$/) });
  });

  it('a reset connection is ECONNRESET', async () => {
    const server = await serve((req) => req.socket.resetAndDestroy());
    expect(await probeOnce(`${server.url}/`)).toMatchObject({ kind: 'failure', reason: 'ECONNRESET' });
  });

  it('a server that closes without answering is a failure', async () => {
    const server = await serve((req) => req.socket.destroy());
    expect(await probeOnce(`${server.url}/`)).toMatchObject({ kind: 'failure', reason: 'ECONNRESET' });
  });

  it('a server that never answers is aborted after REQUEST_TIMEOUT and sees its socket closed', async () => {
    const server = await serve(() => undefined);
    const result = await probeOnce(`${server.url}/`, { timeoutMs: 300 });
    expect(result).toMatchObject({ kind: 'failure', reason: 'timeout after 300 ms' });
    expect(result.latencyMs).toBeGreaterThanOrEqual(295);
    // aborted at REQUEST_TIMEOUT, not some multiple of it: 1.2 s of room for a timer that fires
    // late on a loaded machine
    expect(result.latencyMs).toBeLessThan(1_500);
    // the request was really aborted: the server side of the socket closes (waited for up to 2 s)
    for (let i = 0; i < 200 && server.closedSockets === 0; i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(server.closedSockets).toBe(1);
  });

  it('a body that trickles past REQUEST_TIMEOUT is a timeout, not a success', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const drip = setInterval(() => res.write('.'), 50);
      res.on('close', () => clearInterval(drip));
    });
    expect(await probeOnce(`${server.url}/`, { timeoutMs: 300 })).toMatchObject({ kind: 'failure', reason: 'timeout after 300 ms' });
  });
});

describe('shutdown', () => {
  it('an abort from the caller ends the probe as aborted, neither success nor failure', async () => {
    const server = await serve(() => undefined);
    const controller = new AbortController();
    const pending = probeOnce(`${server.url}/`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    expect(await pending).toMatchObject({ kind: 'aborted' });
  });
});

describe('classifyStatus', () => {
  it.each([
    [200, false, true],
    [204, false, true],
    [399, false, true],
    [400, false, false],
    [499, true, true],
    [500, true, false],
    [599, true, false],
    [101, false, false],
  ])('HTTP %i with ACCEPT_CLIENT_ERRORS=%p is ok=%p', (status, accept, ok) => {
    expect(classifyStatus(status, accept).ok).toBe(ok);
  });
});
