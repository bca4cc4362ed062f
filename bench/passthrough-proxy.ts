/**
 * The reference for the guarded proxy's throughput: the smallest node:http reverse proxy that
 * works. A keep-alive agent and streams, nothing else: no breaker, no header rules, no limits, no
 * timeouts, no logging.
 *
 *   UPSTREAM=http://127.0.0.1:3000 PORT=0 node passthrough-proxy.js   # prints `listening <port>`
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const upstream = new URL(process.env.UPSTREAM ?? 'http://127.0.0.1:3000');
// as many sockets as the guarded proxy's agent allows (PROXY_DEFAULTS.maxSockets)
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

const server = http.createServer((req, res) => {
  const forward = http.request(
    { agent, hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  forward.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(forward);
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
