/**
 * A monitor with a routes file of two routes, `catalog` and `reviews`, whose upstreams are two
 * node:http servers on loopback (they answer 200 and a small JSON body to any path). Either
 * upstream can be stopped (its port refuses connections) and started again on the same port, or
 * made to hang (it takes requests and never answers) and to answer again. Used by the dashboard's
 * routes test and by the scripts that take the dashboard's screenshots.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startMonitor, type Service } from './local-stack';

export type RouteName = 'catalog' | 'reviews';

export interface RoutesStack {
  readonly monitor: Service;
  /** `http://127.0.0.1:<port>` of the monitor's admin server and guarded proxy */
  readonly adminUrl: string;
  readonly proxyUrl: string;
  stopUpstream(name: RouteName): Promise<void>;
  startUpstream(name: RouteName): Promise<void>;
  /** From now on the upstream holds every request without answering (until `answerUpstream`). */
  hangUpstream(name: RouteName): void;
  /** Ends the hang: held requests get their answer, new ones are answered at once. */
  answerUpstream(name: RouteName): void;
  /** requests the upstream holds unanswered now */
  held(name: RouteName): number;
  /** Stops the monitor and both upstreams, and removes the routes file. */
  stop(): Promise<void>;
}

class Upstream {
  private server: http.Server | undefined;
  port = 0;
  hanging = false;
  readonly held = new Set<() => void>();

  constructor(private readonly name: RouteName) {}

  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      const answer = (): void => {
        this.held.delete(answer);
        if (res.destroyed) return;
        const body = JSON.stringify({ route: this.name, path: req.url });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }).end(body);
      };
      if (!this.hanging) return answer();
      this.held.add(answer);
      res.on('close', () => this.held.delete(answer));
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** `monitorEnv`: the monitor's variables beside ROUTES_FILE, HTTP_CLIENT, ADMIN_PORT and PROXY_PORT. */
/** `routeSettings`: settings of the routes file for a route, e.g. `{ reviews: { maxConcurrentCalls: 'off' } }`. */
export async function startRoutesStack(monitorEnv: Record<string, string> = {}, routeSettings: Partial<Record<RouteName, Record<string, unknown>>> = {}): Promise<RoutesStack> {
  const upstreams = { catalog: new Upstream('catalog'), reviews: new Upstream('reviews') };
  await upstreams.catalog.start();
  await upstreams.reviews.start();
  const dir = mkdtempSync(path.join(tmpdir(), 'cbdemo-routes-'));
  const routesFile = path.join(dir, 'routes.json');
  const routes = (['catalog', 'reviews'] as const).map((name) => ({
    name,
    prefix: `/api/${name}/`,
    upstream: `127.0.0.1:${upstreams[name].port}`,
    probePath: `/api/${name}/`,
    ...routeSettings[name],
  }));
  writeFileSync(routesFile, JSON.stringify({ routes }, null, 2));
  const stopUpstreams = async (): Promise<void> => {
    await upstreams.catalog.stop();
    await upstreams.reviews.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // HTTP_CLIENT is still required; with a routes file nothing goes there
    const { monitor, adminPort, proxyPort } = await startMonitor({ ...monitorEnv, HTTP_CLIENT: '127.0.0.1:9', ROUTES_FILE: routesFile });
    return {
      monitor,
      adminUrl: `http://127.0.0.1:${adminPort}`,
      proxyUrl: `http://127.0.0.1:${proxyPort}`,
      stopUpstream: (name) => upstreams[name].stop(),
      startUpstream: (name) => upstreams[name].start(),
      hangUpstream: (name) => {
        upstreams[name].hanging = true;
      },
      answerUpstream: (name) => {
        upstreams[name].hanging = false;
        for (const answer of [...upstreams[name].held]) answer();
      },
      held: (name) => upstreams[name].held.size,
      stop: async () => {
        await monitor.stop();
        await stopUpstreams();
      },
    };
  } catch (error) {
    await stopUpstreams();
    throw error;
  }
}
