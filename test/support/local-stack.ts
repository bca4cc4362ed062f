/**
 * The local stack: real nginx (Debian's, in a temp prefix, the project's own template rendered with
 * loopback addresses), the built upstream and the built monitor as child processes on loopback
 * ports, wired the way compose wires them: monitor -> nginx -> upstream.
 *
 * Used by the local end-to-end tests and by `npm run demo:local`. Everything it starts is stopped by
 * `stop()`, and killed as a last resort when this process exits or is interrupted (SIGINT, SIGTERM, SIGHUP).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createLocalNginx, freePort, onProcessEnd, type LocalNginx } from './nginx';

const ROOT = path.resolve(__dirname, '../..');
const UPSTREAM_MAIN = path.join(ROOT, 'upstream/dist/main.js');
const MONITOR_MAIN = path.join(ROOT, 'monitor/dist/main.js');

const running = new Set<ChildProcess>();
onProcessEnd(() => {
  for (const child of running) child.kill('SIGKILL');
});

/** A child process whose stdout is kept line by line, with a wait for a line. */
export class Service {
  readonly lines: string[] = [];
  private partial = '';
  private readonly waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    onLine?: (line: string) => void,
  ) {
    running.add(child);
    const take = (chunk: Buffer) => {
      const text = this.partial + chunk.toString();
      const parts = text.split('\n');
      this.partial = parts.pop() ?? '';
      for (const line of parts) {
        this.lines.push(line);
        onLine?.(line);
        for (const waiter of this.waiters.filter((w) => w.pattern.test(line))) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    };
    child.stdout?.on('data', take);
    child.stderr?.on('data', take);
    this.exited = new Promise((resolve) =>
      child.on('exit', (code) => {
        running.delete(child);
        resolve(code);
      }),
    );
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first line from now on (or already seen after `fromIndex`) that matches. */
  waitForLine(pattern: RegExp, timeoutMs = 15_000, fromIndex = this.lines.length): Promise<string> {
    const seen = this.lines.slice(fromIndex).find((line) => pattern.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { pattern, resolve: (line: string) => (clearTimeout(timer), resolve(line)) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms; last lines:\n${this.lines.slice(-15).join('\n')}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Sends a signal and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 3_000): Promise<number | null> {
    if (!this.alive) return this.child.exitCode;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

function startNode(name: string, main: string, env: Record<string, string>, onLine?: (line: string) => void): Service {
  // only PATH is inherited: the stack must not pick up the caller's configuration or the root .env
  const child = spawn(process.execPath, [main], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Service(name, child, onLine);
}

export interface LocalStackOptions {
  /** the monitor's variables; HTTP_CLIENT, ADMIN_PORT and PROXY_PORT are filled in */
  readonly monitorEnv?: Record<string, string>;
  /** nginx's proxy read/send timeout (compose: 5s) */
  readonly nginxProxyTimeout?: string;
  /** every output line, prefixed with the service name (the local demo prints them) */
  readonly onLine?: (service: string, line: string) => void;
}

export interface LocalStack {
  readonly nginx: LocalNginx;
  readonly upstream: Service;
  readonly monitor: Service;
  /** `http://127.0.0.1:<port>` of the monitor's admin server and guarded proxy */
  readonly adminUrl: string;
  readonly proxyUrl: string;
  /** Stops monitor, nginx and upstream (in that order) and removes nginx's prefix. Safe to call twice. */
  stop(): Promise<void>;
  /** Stops the monitor (SIGTERM) and starts a fresh one on the same ports; `monitor` is the new one after. */
  restartMonitor(): Promise<Service>;
}

/** Starts upstream, then nginx in front of it, then the monitor probing nginx. */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const onLine = (service: string) => (options.onLine ? (line: string) => options.onLine?.(service, line) : undefined);
  const cleanups: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const upstream = startNode('upstream', UPSTREAM_MAIN, { PORT: '0', HOST: '127.0.0.1' }, onLine('upstream'));
    cleanups.push(() => upstream.stop());
    const listening = await upstream.waitForLine(/listening on http:\/\/127\.0\.0\.1:\d+/, 10_000, 0);
    const upstreamPort = /:(\d+)/.exec(listening.slice(listening.indexOf('http://')))?.[1];

    const nginx = await createLocalNginx({ upstream: `127.0.0.1:${upstreamPort}`, proxyTimeout: options.nginxProxyTimeout ?? '5s' });
    cleanups.push(() => nginx.dispose());
    await nginx.start();

    const monitorEnv = { ...options.monitorEnv, HTTP_CLIENT: `127.0.0.1:${nginx.port}` };
    const started = await startMonitor(monitorEnv, onLine('monitor'));
    const { adminPort, proxyPort } = started;
    let monitor = started.monitor;
    cleanups.push(() => monitor.stop());

    return {
      nginx,
      upstream,
      get monitor() {
        return monitor;
      },
      adminUrl: `http://127.0.0.1:${adminPort}`,
      proxyUrl: `http://127.0.0.1:${proxyPort}`,
      stop,
      restartMonitor: async () => {
        await monitor.stop();
        monitor = startNode('monitor', MONITOR_MAIN, { ...monitorEnv, ADMIN_PORT: String(adminPort), PROXY_PORT: String(proxyPort) }, onLine('monitor'));
        await monitor.waitForLine(/ admin API listening on port /, 10_000, 0);
        await monitor.waitForLine(/ guarded proxy listening on port /, 10_000, 0);
        return monitor;
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Starts the monitor on two free ports and waits until both its listeners are up. freePort() cannot
 * reserve a port: when another process takes one in between, the monitor says `cannot listen` and
 * exits, and it is started again on fresh ports.
 */
export async function startMonitor(env: Record<string, string>, onLine?: (line: string) => void): Promise<{ monitor: Service; adminPort: number; proxyPort: number }> {
  for (let attempt = 1; ; attempt++) {
    const [adminPort, proxyPort] = [await freePort(), await freePort()];
    const monitor = startNode('monitor', MONITOR_MAIN, { ...env, ADMIN_PORT: String(adminPort), PROXY_PORT: String(proxyPort) }, onLine);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const has = (pattern: RegExp) => monitor.lines.some((line) => pattern.test(line));
      if (has(/ admin API listening on port /) && has(/ guarded proxy listening on port /)) return { monitor, adminPort, proxyPort };
      if (has(/cannot listen: EADDRINUSE/) && attempt < 3) break;
      if (!monitor.alive || Date.now() > deadline) {
        await monitor.stop();
        throw new Error(`monitor did not start listening on ports ${adminPort} and ${proxyPort}:\n${monitor.lines.slice(-15).join('\n')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await monitor.stop();
  }
}

/** The time at the start of a monitor text line, in ms since the epoch. */
export function lineTime(line: string): number {
  return Date.parse(line.slice(0, line.indexOf(' ')));
}
