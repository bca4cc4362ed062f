/**
 * The upstream stand-in for the proxy and footprint benchmarks: a trivial node:http server that
 * answers every request with a small JSON body and counts them. Runs in-process (`startJsonServer`)
 * or as its own process (`node json-server.js`, prints `listening <port>`).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface JsonServer {
  readonly port: number;
  /** requests answered so far */
  readonly count: number;
  close(): Promise<void>;
}

const BODY = Buffer.from('{"service":"bench-upstream","ok":true}\n');

export interface JsonServerOptions {
  readonly port?: number;
  /**
   * Answer with `Connection: close`: the server then closes first, so TIME_WAIT stays on the
   * server's side and never eats the client's ephemeral ports.
   */
  readonly close?: boolean;
}

export function startJsonServer(options: JsonServerOptions = {}): Promise<JsonServer> {
  let count = 0;
  const headers: http.OutgoingHttpHeaders = {
    'content-type': 'application/json',
    'content-length': BODY.length,
    ...(options.close ? { connection: 'close' } : {}),
  };
  const server = http.createServer((_req, res) => {
    count += 1;
    res.writeHead(200, headers);
    res.end(BODY);
  });
  // a load generator may keep more connections than Node's defaults expect
  server.keepAliveTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        get count() {
          return count;
        },
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

if (require.main === module) {
  startJsonServer({ port: Number(process.env.PORT ?? 0) }).then(
    (server) => {
      process.stdout.write(`listening ${server.port}\n`);
      process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
    },
    (error: unknown) => {
      process.stderr.write(`json-server: ${String(error)}\n`);
      process.exit(1);
    },
  );
}
