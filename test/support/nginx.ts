/**
 * A real nginx on loopback, configured from nginx/templates/default.conf.template exactly as the
 * compose stack is, for the infra and end-to-end tests.
 *
 *   const nginx = await createLocalNginx({ upstream: '127.0.0.1:3456' });
 *   await nginx.start();   // resolves once nginx answers on nginx.url
 *   await nginx.stop();    // SIGQUIT, graceful, like `docker compose stop nginx`
 *   await nginx.start();   // same port again
 *   await nginx.dispose(); // stops if needed and deletes the temporary prefix
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { runInThisContext } from 'node:vm';

export const NGINX_TEMPLATE_PATH = join(__dirname, '..', '..', 'nginx', 'templates', 'default.conf.template');

/** The variables the template expects; compose sets the same names in the nginx container. */
export interface NginxTemplateVars {
  /** `listen` argument: a port (compose: `80`) or `address:port`. */
  readonly NGINX_LISTEN: string;
  /** The upstream as `host:port`, resolved at request time (compose: `upstream:3000`). */
  readonly UPSTREAM_ADDR: string;
  /** DNS server(s) for a host name in UPSTREAM_ADDR, optional `:port` (compose: `127.0.0.11`). */
  readonly NGINX_RESOLVER: string;
  /** proxy read/send timeout, nginx time syntax (compose: `5s`). */
  readonly NGINX_PROXY_TIMEOUT: string;
  /** the backend of /api/reviews/ (nginx/Dockerfile's default: `upstream:3000`; the routes demo: `reviews:3000`). */
  readonly REVIEWS_ADDR: string;
}

const NAME = '[A-Za-z_][A-Za-z0-9_]*';

/**
 * envsubst as the official nginx image calls it (`envsubst "${A} ${B} ..."` over every variable in
 * the container's environment): `$NAME` and `${NAME}` are replaced when NAME is defined in `env`,
 * everything else, nginx's own `$host` included, is left as written.
 */
export function envsubst(text: string, env: Readonly<Record<string, string | undefined>>): string {
  return text.replace(new RegExp(`\\$(?:\\{(${NAME})\\}|(${NAME}))`, 'g'), (match, braced?: string, bare?: string) => {
    const value = env[braced ?? bare ?? ''];
    return value === undefined ? match : value;
  });
}

/** `${NAME}` references in a text, in order of first appearance. */
export function templateVariables(text: string): string[] {
  return [...new Set([...text.matchAll(new RegExp(`\\$\\{(${NAME})\\}`, 'g'))].map((match) => match[1] ?? ''))];
}

/** `NGINX_BIN`, else /usr/sbin/nginx (Debian), else `nginx` on PATH; undefined when there is none. */
export function findNginx(): string | undefined {
  const candidates = [process.env.NGINX_BIN, '/usr/sbin/nginx', ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'nginx'))];
  return candidates.find((path): path is string => path !== undefined && path !== '' && existsSync(path));
}

/** A port that was free on `host` a moment ago (bind 0, read, close): callers retry on EADDRINUSE. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export interface LocalNginxOptions {
  /** The upstream as `host:port`: an IP literal needs no DNS, a name goes through `resolver`. */
  readonly upstream: string;
  readonly host?: string;
  /** Defaults to a free port; one that turns out taken at the first start is replaced. */
  readonly port?: number;
  /** Defaults to `127.0.0.1`; never asked while the upstream is an IP literal. */
  readonly resolver?: string;
  /** Defaults to `5s`, the compose value; tests of the 504 path pass something short. */
  readonly proxyTimeout?: string;
  /** The backend of /api/reviews/, `host:port`; defaults to `upstream` (as nginx/Dockerfile's ENV does). */
  readonly reviews?: string;
  /** Defaults to findNginx(). */
  readonly binary?: string;
  /**
   * A site config of one's own instead of the project's template, given the `listen` argument
   * (`host:port`); it must answer `/nginx-health` with 200, which `start()` waits for.
   */
  readonly site?: (listen: string) => string;
  /** `worker_processes`: defaults to 1. */
  readonly workers?: number | 'auto';
}

/** One line of the access log. */
export interface NginxRequest {
  /** When nginx began reading the request, ms since the epoch (millisecond resolution). */
  readonly startedAt: number;
  /** The request line, e.g. `GET / HTTP/1.1`. */
  readonly request: string;
  readonly status: number;
}

export interface LocalNginx {
  /** Temporary directory holding the config, logs, temp files and pid file. */
  readonly prefix: string;
  readonly confPath: string;
  /** The rendered template, as compose would place it in /etc/nginx/conf.d/default.conf. */
  readonly siteConfPath: string;
  readonly errorLogPath: string;
  readonly accessLogPath: string;
  readonly port: number;
  /** `http://host:port`, no trailing slash. */
  readonly url: string;
  readonly running: boolean;
  /** `nginx -t` on the rendered config; throws with nginx's output when it fails. */
  check(): Promise<void>;
  /** Starts the master in the foreground and resolves once `/nginx-health` answers 200. */
  start(options?: { readonly timeoutMs?: number }): Promise<void>;
  /**
   * SIGQUIT (graceful: the nginx image's STOPSIGNAL) and waits for the exit; after `timeoutMs`
   * falls back to SIGTERM, then SIGKILL.
   */
  stop(options?: { readonly timeoutMs?: number }): Promise<void>;
  /** Stops if running and removes the prefix. Safe to call twice. */
  dispose(): Promise<void>;
  errorLog(): string;
  /** Every request in the access log, oldest first, across restarts. */
  requests(): NginxRequest[];
}

/** Renders the template into a fresh temporary prefix; nothing runs until `start()`. */
export async function createLocalNginx(options: LocalNginxOptions): Promise<LocalNginx> {
  const binary = options.binary ?? findNginx();
  if (binary === undefined) throw new Error('nginx not found: install nginx-light (scripts/setup-test-deps.sh) or set NGINX_BIN');
  const host = options.host ?? '127.0.0.1';
  const prefix = mkdtempSync(join(tmpdir(), 'nginx-local-'));
  onProcessEnd(removeLeftovers);
  undisposed.add(prefix);
  // As root, nginx workers run as `nobody`: they must be able to reach the temp dirs inside.
  chmodSync(prefix, 0o755);
  mkdirSync(join(prefix, 'logs'));
  mkdirSync(join(prefix, 'temp'));
  const paths = {
    confPath: join(prefix, 'nginx.conf'),
    siteConfPath: join(prefix, 'default.conf'),
    errorLogPath: join(prefix, 'logs', 'error.log'),
    accessLogPath: join(prefix, 'logs', 'access.log'),
    pidPath: join(prefix, 'nginx.pid'),
  };
  const template = readFileSync(NGINX_TEMPLATE_PATH, 'utf8');
  let port = options.port ?? (await freePort(host));
  const render = (): void => {
    const vars: NginxTemplateVars = {
      NGINX_LISTEN: `${host}:${port}`,
      UPSTREAM_ADDR: options.upstream,
      NGINX_RESOLVER: options.resolver ?? '127.0.0.1',
      NGINX_PROXY_TIMEOUT: options.proxyTimeout ?? '5s',
      REVIEWS_ADDR: options.reviews ?? options.upstream,
    };
    writeFileSync(paths.siteConfPath, options.site ? options.site(vars.NGINX_LISTEN) : envsubst(template, { ...vars }));
  };
  render();
  writeFileSync(paths.confPath, mainConf(prefix, paths, missingModules(binary), options.workers ?? 1));

  const args = (): string[] => [
    '-p', `${prefix}/`,
    '-c', paths.confPath,
    // Before reading the config nginx opens its compiled-in error log (/var/log/nginx/...).
    '-e', paths.errorLogPath,
    '-g', `daemon off; pid ${quote(paths.pidPath)};`,
  ];
  let child: ChildProcess | undefined;
  let output = '';
  let everStarted = false;

  const errorLog = (): string => (existsSync(paths.errorLogPath) ? readFileSync(paths.errorLogPath, 'utf8') : '');
  const requests = (): NginxRequest[] =>
    (existsSync(paths.accessLogPath) ? readFileSync(paths.accessLogPath, 'utf8') : '').split('\n').filter(Boolean).map(parseAccessLine);

  const check = async (): Promise<void> => {
    const result = spawnSync(binary, ['-t', ...args()], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`nginx -t failed:\n${result.stdout}${result.stderr}${errorLog()}`);
  };

  const launch = async (timeoutMs: number): Promise<void> => {
    const logBefore = errorLog().length;
    const proc = spawn(binary, args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    track(proc);
    output = '';
    proc.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(proc, 'exit').then(([code]: unknown[]) => {
      if (child === proc) child = undefined;
      throw new Error(`nginx exited with ${String(code)} before answering:\n${output}${errorLog().slice(logBefore)}`);
    });
    // Only meaningful until nginx answers; a later exit is stop()'s business.
    exited.catch(() => undefined);
    const ready = waitForHealth(`http://${host}:${port}/nginx-health`, timeoutMs, () => child !== proc);
    try {
      await Promise.race([ready, exited]);
    } catch (error) {
      if (child === proc) {
        await stopProcess(proc, 2000);
        child = undefined;
      }
      throw error;
    }
  };

  const start = async ({ timeoutMs = 10_000 } = {}): Promise<void> => {
    if (child) throw new Error('nginx is already running');
    // Only a port we picked ourselves, before it was ever served, may change: a restart keeps its URL.
    for (let attempt = 1; ; attempt++) {
      try {
        await launch(timeoutMs);
        everStarted = true;
        return;
      } catch (error) {
        const taken = error instanceof Error && error.message.includes('Address already in use');
        if (!taken || options.port !== undefined || everStarted || attempt >= 5) throw error;
        port = await freePort(host);
        render();
      }
    }
  };

  const stop = async ({ timeoutMs = 5000 } = {}): Promise<void> => {
    const proc = child;
    if (!proc) return;
    await stopProcess(proc, timeoutMs);
    child = undefined;
  };

  let disposed = false;
  const dispose = async (): Promise<void> => {
    await stop();
    if (disposed) return;
    disposed = true;
    rmSync(prefix, { recursive: true, force: true });
    undisposed.delete(prefix);
  };

  return {
    prefix,
    confPath: paths.confPath,
    siteConfPath: paths.siteConfPath,
    errorLogPath: paths.errorLogPath,
    accessLogPath: paths.accessLogPath,
    get port() {
      return port;
    },
    get url() {
      return `http://${host}:${port}`;
    },
    get running() {
      return child !== undefined;
    },
    check,
    start,
    stop,
    dispose,
    errorLog,
    requests,
  };
}

type Paths = Readonly<Record<'confPath' | 'siteConfPath' | 'errorLogPath' | 'accessLogPath', string>>;

/**
 * The main config around the rendered template, standing in for the image's /etc/nginx/nginx.conf:
 * everything that would need root or fixed paths points into the prefix instead.
 */
function mainConf(prefix: string, paths: Paths, missing: ReadonlySet<string>, workers: number | 'auto'): string {
  const temp = (name: string): string => quote(join(prefix, 'temp', name));
  const tempPaths = [
    `client_body_temp_path ${temp('client_body')};`,
    `proxy_temp_path ${temp('proxy')};`,
    // Each module's temp path is a directive only when the module is built in (nginx -V).
    ...['fastcgi', 'uwsgi', 'scgi'].filter((module) => !missing.has(module)).map((module) => `${module}_temp_path ${temp(module)};`),
  ];
  return [
    '# Generated by test/support/nginx.ts for the local stack. Do not edit: edit the template.',
    `worker_processes ${workers};`,
    `error_log ${quote(paths.errorLogPath)} warn;`,
    'events { worker_connections 128; }',
    'http {',
    // $msec (log time) minus $request_time: when the request began, to the millisecond
    `    log_format timed '$msec $request_time $remote_addr "$request" $status $body_bytes_sent "$http_user_agent"';`,
    `    access_log ${quote(paths.accessLogPath)} timed;`,
    ...tempPaths.map((line) => `    ${line}`),
    `    include ${quote(paths.siteConfPath)};`,
    '}',
    '',
  ].join('\n');
}

const ACCESS_LINE = /^(\d+)\.(\d{3}) (\d+)\.(\d{3}) \S+ "([^"]*)" (\d{3}) /;

function parseAccessLine(line: string): NginxRequest {
  const match = ACCESS_LINE.exec(line);
  if (!match) throw new Error(`not a line of the timed access log format: ${line}`);
  const [, sec, ms, elapsedSec, elapsedMs, request = '', status] = match;
  const millis = (whole = '', fraction = ''): number => Number(whole) * 1000 + Number(fraction);
  return { startedAt: millis(sec, ms) - millis(elapsedSec, elapsedMs), request, status: Number(status) };
}

function missingModules(binary: string): Set<string> {
  const version = spawnSync(binary, ['-V'], { encoding: 'utf8' });
  const configure = `${version.stdout}${version.stderr}`;
  return new Set([...configure.matchAll(/--without-http_(\w+)_module/g)].map((match) => match[1] ?? ''));
}

function quote(path: string): string {
  return `"${path.replace(/(["\\])/g, '\\$1')}"`;
}

async function stopProcess(proc: ChildProcess, timeoutMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  // SIGTERM is nginx's fast shutdown: the master still takes its workers down, which SIGKILL skips.
  for (const [signal, waitMs] of [['SIGQUIT', timeoutMs], ['SIGTERM', 2000], ['SIGKILL', 2000]] as const) {
    proc.kill(signal);
    if (await settlesWithin(exited, waitMs)) return;
  }
  throw new Error(`nginx (pid ${proc.pid}) did not exit`);
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitForHealth(url: string, timeoutMs: number, abandoned: () => boolean): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline && !abandoned()) {
    if ((await statusOf(url)) === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`nginx did not answer ${url} within ${timeoutMs} ms`);
}

function statusOf(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

// A caller that dies before dispose() must not leave nginx holding its port, nor its prefix behind.
const live = new Set<ChildProcess>();
const undisposed = new Set<string>();
function removeLeftovers(): void {
  // SIGTERM, not SIGKILL: the master takes its workers down with it
  for (const proc of live) proc.kill('SIGTERM');
  for (const prefix of undisposed) rmSync(prefix, { recursive: true, force: true });
}
function track(proc: ChildProcess): void {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
}

// jest gives test code a copy of `process` whose listeners the real process never calls, not even
// on 'exit'; the current vm context's `process` is the real one (and plain `process` outside jest).
const realProcess = runInThisContext('process') as NodeJS.Process;
const INTERRUPTS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
// One set of listeners per process, though jest evaluates this module again for every test file.
const END_CLEANUPS: unique symbol = Symbol.for('circuit-breaker-demo/test-support/end-cleanups');
type WithCleanups = NodeJS.Process & { [END_CLEANUPS]?: Set<() => void> };

/**
 * Runs `cleanup` (synchronous, safe to run twice) when the process exits, and on SIGINT, SIGTERM or
 * SIGHUP, on which Node runs no 'exit' listener. After the cleanups the signal is raised again, so
 * the process ends with the status it would have had (128 + signal number). A program with its own
 * handler for the signal keeps it: it decides how to stop, and 'exit' is then the last resort.
 * Losing the parent's IPC channel counts as a hangup: a jest worker whose jest was killed by a
 * signal would otherwise run its test file to the end with nobody reading the results.
 */
export function onProcessEnd(cleanup: () => void): void {
  const host = realProcess as WithCleanups;
  const installed = host[END_CLEANUPS];
  if (installed) {
    installed.add(cleanup);
    return;
  }
  const cleanups = new Set([cleanup]);
  host[END_CLEANUPS] = cleanups;
  const runAll = (): void => {
    for (const each of cleanups) each();
  };
  const onInterrupt = (signal: NodeJS.Signals): void => {
    if (realProcess.listeners(signal).some((listener) => listener !== onInterrupt)) return;
    runAll();
    for (const each of INTERRUPTS) realProcess.removeListener(each, onInterrupt);
    realProcess.kill(realProcess.pid, signal);
  };
  realProcess.once('exit', runAll);
  for (const signal of INTERRUPTS) realProcess.on(signal, onInterrupt);
  realProcess.once('disconnect', () => realProcess.kill(realProcess.pid, 'SIGHUP'));
}
