/**
 * bench:client-rss's child: one client in a fresh process, REQUESTS GETs with IN_FLIGHT at once to a
 * node:http server in the same process; prints one JSON line (its anonymous RSS before and after).
 * Imports nothing but node and undici's Pool, loaded as the proxy loads it (monitor/src/proxy/undici-pool.ts),
 * so the figures are the client's.
 *
 *   node client-rss-worker.js <undici|http> <requests> <inFlight>
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Dispatcher } from 'undici';
import { Pool } from '../monitor/src/proxy/undici-pool';

export interface Sample {
  readonly client: string;
  readonly anonKbBefore: number;
  readonly anonKbAfter: number;
  readonly heapMbAfter: number;
}

function anonKb(): number {
  return Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
}

async function child(client: 'undici' | 'http', REQUESTS: number, IN_FLIGHT: number): Promise<void> {
  const server = http.createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const anonKbBefore = anonKb();
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 256, pipelining: 1 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const one = (): Promise<void> =>
    client === 'undici'
      ? new Promise((resolve, reject) => {
          // the proxy's layer: dispatch with a handler (the Pool module alone has no request())
          const handler: Dispatcher.DispatchHandler = { onConnect: () => undefined, onHeaders: () => true, onData: () => true, onComplete: () => resolve(), onError: reject };
          pool.dispatch({ path: '/', method: 'GET' }, handler);
        })
      : new Promise((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port, agent, path: '/' }, (answer) => {
              answer.resume();
              answer.on('end', resolve);
            })
            .on('error', reject);
        });
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (sent++ < REQUESTS) await one();
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const sample: Sample = { client, anonKbBefore, anonKbAfter: anonKb(), heapMbAfter: process.memoryUsage().heapUsed / 1e6 };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
  process.exit(0);
}


const [client, requests, inFlight] = process.argv.slice(2);
if (client !== 'undici' && client !== 'http') throw new Error(`usage: client-rss-worker.js <undici|http> <requests> <inFlight>, got ${client}`);
void child(client, Number(requests), Number(inFlight));
