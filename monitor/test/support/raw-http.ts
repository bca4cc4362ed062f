import http from 'node:http';
import net from 'node:net';

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: string;
  /** ms from the request's start to its full answer */
  readonly ms: number;
}

export interface CallOptions {
  readonly method?: string;
  readonly path?: string;
  /** a raw list keeps repeated headers and their case */
  readonly headers?: http.OutgoingHttpHeaders | readonly string[];
  readonly body?: string | readonly string[];
  /** one connection per call unless an agent is given */
  readonly agent?: http.Agent | false;
  /** the client's address: any of 127.0.0.0/8 on Linux, to be several clients */
  readonly localAddress?: string;
}

/**
 * One HTTP request with node:http (fetch would add and drop headers of its own). A body given as
 * a list is sent chunked, one write per item.
 */
export function call(port: number, options: CallOptions = {}): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: options.headers as http.OutgoingHttpHeaders,
        agent: options.agent ?? false,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks).toString(),
            ms: performance.now() - started,
          }),
        );
      },
    );
    req.on('error', reject);
    if (Array.isArray(options.body)) {
      for (const part of options.body) req.write(part);
      req.end();
    } else {
      req.end(options.body as string | undefined);
    }
  });
}

export interface RawExchange {
  /** everything the server sent until it closed the connection */
  readonly text: string;
  /** ms until the server closed */
  readonly ms: number;
}

/** Writes bytes on a plain TCP connection and collects what comes back until the server closes it. */
export function rawExchange(port: number, request: string, timeoutMs = 5_000): Promise<RawExchange> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`server did not close within ${timeoutMs} ms; got: ${JSON.stringify(text)}`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, ms: performance.now() - started });
    });
    socket.write(request);
  });
}
