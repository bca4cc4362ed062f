/**
 * The upstream's HTTP surface: `GET /`, `GET /health` and the fault switch. Knows nothing about the
 * process (env, signals, exit): `main.ts` wires it up, tests run it in-process on port 0.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { FAULT_MODES, NORMAL, describeFault, parseFault, type Fault } from './faults';

export interface UpstreamServerOptions {
  /** Reported as `host` by `GET /`; defaults to the machine's (in compose: the container's) name. */
  readonly hostname?: string;
  readonly now?: () => Date;
  /** Receives one line per request and one per mode change; silent when omitted. */
  readonly log?: (line: string) => void;
  readonly fault?: Fault;
  /** random numbers in [0, 1) for `flaky`; Math.random by default */
  readonly random?: () => number;
}

export interface UpstreamServer {
  readonly server: Server;
  listen(port: number, host: string): Promise<AddressInfo>;
  fault(): Fault;
  /**
   * Stops accepting, closes idle keep-alive connections and cuts hanging requests at once; requests
   * still being answered get `graceMs` before their connections are cut too.
   */
  close(graceMs?: number): Promise<void>;
}

interface Target {
  readonly path: string;
  readonly query: URLSearchParams;
}
type Handler = (req: IncomingMessage, res: ServerResponse, target: Target) => void;
type Route = Readonly<Record<string, Handler>>;

export function createUpstreamServer(options: UpstreamServerOptions = {}): UpstreamServer {
  const host = options.hostname ?? osHostname();
  const now = options.now ?? (() => new Date());
  const log = options.log ?? (() => undefined);
  let fault: Fault = options.fault ?? NORMAL;
  const random = options.random ?? Math.random;
  // Responses held open by `hang`. No timer per request: the client or shutdown ends them.
  const hanging = new Set<ServerResponse>();
  // Why a request got no answer, for its log line.
  const unanswered = new WeakMap<ServerResponse, 'hang' | 'reset'>();

  const getRoot: Handler = (req, res) => {
    const body = { service: 'upstream', host, time: now().toISOString(), mode: fault.mode };
    switch (fault.mode) {
      case 'normal':
        return sendJson(res, 200, body);
      case 'error':
      case 'client-error':
        return sendJson(res, fault.status, { ...body, error: `injected fault: ${describeFault(fault)}` }, retryAfterHeader(fault.retryAfter));
      case 'flaky':
        if (random() * 100 < fault.percent) {
          return sendJson(res, fault.status, { ...body, error: `injected fault: ${describeFault(fault)}` }, retryAfterHeader(fault.retryAfter));
        }
        return sendJson(res, 200, body);
      case 'slow': {
        // held like `hang` until then, so shutdown cuts it; the client leaving clears the timer
        const timer = setTimeout(() => {
          hanging.delete(res);
          sendJson(res, 200, { ...body, time: now().toISOString() });
        }, fault.ms);
        hanging.add(res);
        res.once('close', () => {
          clearTimeout(timer);
          hanging.delete(res);
        });
        return;
      }
      case 'hang':
        unanswered.set(res, 'hang');
        hanging.add(res);
        res.once('close', () => hanging.delete(res));
        return;
      case 'reset':
        // SO_LINGER 0 then close: the client sees ECONNRESET, not a clean end of stream.
        unanswered.set(res, 'reset');
        req.socket.resetAndDestroy();
        return;
    }
  };

  const setFault: Handler = (_req, res, { path, query }) => {
    const parsed = parseFault(path.slice('/fault/'.length), {
      status: query.get('status'),
      ms: query.get('ms'),
      percent: query.get('percent'),
      retryAfter: query.get('retryAfter'),
    });
    if (!parsed.ok) {
      return sendJson(res, 400, { error: parsed.error, modes: FAULT_MODES });
    }
    log(`${now().toISOString()} fault mode ${describeFault(fault)} -> ${describeFault(parsed.fault)}`);
    fault = parsed.fault;
    sendJson(res, 200, fault);
  };

  const routes = (path: string): Route | undefined => {
    if (path === '/') return { GET: getRoot, HEAD: getRoot };
    if (path === '/health') {
      const health: Handler = (_req, res) => sendJson(res, 200, { status: 'ok' });
      return { GET: health, HEAD: health };
    }
    if (path === '/catalog') {
      // a page worth serving stale: cacheable, and fit to serve on error for 10 minutes (RFC 5861)
      const catalog: Handler = (_req, res) =>
        sendJson(res, 200, { service: 'upstream', catalog: ['circuit', 'breaker', 'demo'], generatedAt: now().toISOString() }, {
          'cache-control': 'max-age=5, stale-if-error=600',
        });
      return { GET: catalog, HEAD: catalog };
    }
    if (path === '/fault') {
      const current: Handler = (_req, res) => sendJson(res, 200, { ...fault, modes: FAULT_MODES });
      return { GET: current, HEAD: current };
    }
    if (/^\/fault\/[^/]+$/.test(path)) return { PUT: setFault, POST: setFault };
    return undefined;
  };

  const server = createServer((req, res) => {
    const started = performance.now();
    res.once('close', () => {
      const outcome = res.writableFinished ? String(res.statusCode) : (unanswered.get(res) ?? 'aborted');
      log(`${now().toISOString()} ${req.method} ${req.url} ${outcome} ${Math.round(performance.now() - started)}ms`);
    });
    const target = splitTarget(req.url ?? '/');
    const { path } = target;
    const route = routes(path);
    const handler = route?.[req.method ?? ''];
    if (handler) return handler(req, res, target);
    if (route) {
      const allow = Object.keys(route).join(', ');
      return sendJson(res, 405, { error: `method ${req.method} not allowed on ${path}`, allow }, { allow });
    }
    sendJson(res, 404, { error: `no route for ${path}` });
  });

  const listen = (port: number, hostToBind: string): Promise<AddressInfo> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, hostToBind, () => {
        server.off('error', reject);
        resolve(server.address() as AddressInfo);
      });
    });

  const close = (graceMs = 500): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) return resolve();
      const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
      server.close(() => {
        clearTimeout(deadline);
        resolve();
      });
      server.closeIdleConnections();
      for (const res of hanging) res.socket?.destroy();
    });

  return { server, listen, fault: () => fault, close };
}

function retryAfterHeader(retryAfter: string | undefined): Record<string, string> {
  return retryAfter === undefined ? {} : { 'retry-after': retryAfter };
}

function splitTarget(url: string): Target {
  const mark = url.indexOf('?');
  if (mark === -1) return { path: url, query: new URLSearchParams() };
  return { path: url.slice(0, mark), query: new URLSearchParams(url.slice(mark + 1)) };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}
