/**
 * A monitor with a routes file of two routes, `catalog` and `reviews`, whose upstreams are two
 * node:http servers on loopback (they answer 200 and a small JSON body to any path). Either
 * upstream can be stopped (its port refuses connections) and started again on the same port.
 * Used by the dashboard's routes test and by scripts/dashboard-routes-screenshot.ts.
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
  /** Stops the monitor and both upstreams, and removes the routes file. */
  stop(): Promise<void>;
}

class Upstream {
  private server: http.Server | undefined;
  port = 0;

  constructor(private readonly name: RouteName) {}

  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      const body = JSON.stringify({ route: this.name, path: req.url });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }).end(body);
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
export async function startRoutesStack(monitorEnv: Record<string, string> = {}): Promise<RoutesStack> {
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
