/**
 * Request smuggling across the guarded proxy: a message framed two ways, or a body that looks like
 * a request, must reach the upstream as at most one request, framed one way; an upstream answer
 * framed two ways must not desynchronise the pooled connection. Raw bytes on real loopback sockets.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { CircuitBreaker } from '@circuit-breaker-demo/breaker';
import { createProxy } from '../src/proxy/proxy';
import { startCountingUpstream, type CountingUpstream } from './support/counting-upstream';
import { call, rawExchange } from './support/raw-http';
import { RecordingLogger } from './support/recording-logger';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function proxyTo(url: string): Promise<number> {
  const proxy = createProxy({ breaker: new CircuitBreaker({ errorThreshold: 100 }), logger: new RecordingLogger(), upstream: url, requestTimeoutMs: 2_000, acceptClientErrors: false });
  const { port } = await proxy.listen(0, '127.0.0.1');
  cleanups.push(() => proxy.close());
  return port;
}

async function rig(): Promise<{ port: number; upstream: CountingUpstream }> {
  const upstream = await startCountingUpstream();
  cleanups.push(() => upstream.close());
  return { port: await proxyTo(upstream.url), upstream };
}

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';

describe('a request framed two ways is refused before any upstream call', () => {
  it.each([
    ['Content-Length and Transfer-Encoding together', `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ['two different Content-Length values', `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nbody${SMUGGLED}`],
    ['chunked not the last transfer coding', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ['a space before the colon of Content-Length', `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length : 4\r\n\r\nbody${SMUGGLED}`],
    ['a folded Transfer-Encoding line', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ])('%s: 400, and nothing reaches the upstream', async (_name, request) => {
    const { port, upstream } = await rig();
    const { text } = await rawExchange(port, request);
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(upstream.requests).toBe(0);
    expect(upstream.connections).toBe(0);
  });
});

it('a chunked body that looks like a request reaches the upstream as the body of one request', async () => {
  const { port, upstream } = await rig();
  const body = SMUGGLED;
  const { text } = await rawExchange(port, `POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`);
  expect(text).toMatch(/^HTTP\/1\.1 200 /);
  expect(upstream.received.map(({ method, url }) => `${method} ${url}`)).toEqual(['POST /upload']);
  expect(upstream.received[0]?.body).toBe(body);
  // framed once towards the upstream
  const framing = upstream.received[0]!.headers;
  expect(framing['transfer-encoding'] !== undefined && framing['content-length'] !== undefined).toBe(false);
});

it('bytes after a Content-Length body are the next request on that connection, never part of the upstream call', async () => {
  const { port, upstream } = await rig();
  const { text } = await rawExchange(port, `POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbodyGET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  expect(text.match(/HTTP\/1\.1 200 /g)).toHaveLength(2);
  expect(upstream.received.map(({ method, url, body }) => `${method} ${url} ${JSON.stringify(body)}`)).toEqual(['POST /first "body"', 'GET /second ""']);
});

describe('an upstream answer framed two ways', () => {
  it('is a 502, and the connection it came on is not used again', async () => {
    let connections = 0;
    const server = net.createServer((socket) => {
      connections += 1;
      socket.once('data', () => {
        // a length and chunked framing: the body could end at two places
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled');
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = await proxyTo(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);

    const first = await call(port, { path: '/one' });
    expect(first.status).toBe(502);
    const second = await call(port, { path: '/two' });
    // never the bytes left over from the first answer
    expect(second.body).not.toContain('smuggled');
    expect(connections).toBe(2);
  });
});
