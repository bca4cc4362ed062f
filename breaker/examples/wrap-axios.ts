/**
 * Style 2: wrap a remote call once, then call the guarded function like the original. Here an
 * axios GET against two endpoints of a small local server: one healthy, one answering 500. Only
 * 5xx answers and network errors count (the `exceptions` of the classic write-up): a 404 is the
 * caller's problem, not the service's, and passes through uncounted.
 *
 *   npx ts-node breaker/examples/wrap-axios.ts
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import axios, { isAxiosError } from 'axios';
import { CircuitBreaker, CircuitOpenError, wrap } from '@circuit-breaker-demo/breaker';

/** 5xx and network errors are the remote service's failures; anything else is not. */
const isServiceFailure = (error: unknown): boolean => isAxiosError(error) && (error.response === undefined || error.response.status >= 500);

async function main(): Promise<void> {
  const server = http.createServer((req, res) => {
    const status = req.url === '/healthy' ? 200 : req.url === '/faulty' ? 500 : 404;
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ path: req.url, status }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // one breaker per remote dependency: error_threshold=3, time_window=20 s
  const breaker = new CircuitBreaker({ errorThreshold: 3, openWindowMs: 20_000 });
  const makeRemoteCall = wrap(breaker, async (path: string) => (await axios.get<{ status: number }>(base + path, { timeout: 2_000 })).data, {
    isFailure: isServiceFailure,
  });

  for (const path of ['/healthy', '/missing', '/faulty', '/faulty', '/faulty', '/healthy']) {
    try {
      const body = await makeRemoteCall(path);
      console.log(`${path}: ${body.status} (circuit ${breaker.state})`);
    } catch (error) {
      const what = error instanceof CircuitOpenError ? 'rejected at once: circuit open' : isAxiosError(error) ? `HTTP ${error.response?.status}` : String(error);
      console.log(`${path}: ${what} (circuit ${breaker.state})`);
    }
  }
  server.close();
}

void main();

/* prints:
/healthy: 200 (circuit closed)
/missing: HTTP 404 (circuit closed)
/faulty: HTTP 500 (circuit closed)
/faulty: HTTP 500 (circuit closed)
/faulty: HTTP 500 (circuit open)
/healthy: rejected at once: circuit open (circuit open)
*/
