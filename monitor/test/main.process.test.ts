/**
 * The real process: the monitor compiled to JavaScript and run under plain node, as Docker runs it.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { closedPort, startServer } from './support/http-server';
import { answerWith, startReceiver, type Receiver, type ReceivedPost } from './support/webhook-receiver';
import { rawExchange } from './support/raw-http';

// real processes: on a loaded machine a start alone can take several seconds of jest's default 5
jest.setTimeout(30_000);

// Built afresh from src into a temporary directory, so `jest --selectProjects monitor` never runs a
// stale `monitor/dist/` and never races a concurrent `npm run build` writing there.
const repo = path.resolve(__dirname, '../..');
let outDir: string;
let workdir: string;

beforeAll(() => {
  outDir = mkdtempSync(path.join(tmpdir(), 'monitor-build-'));
  workdir = mkdtempSync(path.join(tmpdir(), 'monitor-test-'));
  const tsc = require.resolve('typescript/bin/tsc');
  // the breaker package is resolved through node_modules, to its build: bring that up to date first
  const breaker = spawnSync(process.execPath, [tsc, '-p', path.join(repo, 'breaker/tsconfig.build.json')], { encoding: 'utf8' });
  if (breaker.status !== 0) throw new Error(`breaker build failed:\n${breaker.stdout}${breaker.stderr}`);
  const build = spawnSync(process.execPath, [tsc, '-p', path.join(repo, 'monitor/tsconfig.build.json'), '--outDir', outDir], {
    encoding: 'utf8',
  });
  if (build.status !== 0) throw new Error(`monitor build failed:\n${build.stdout}${build.stderr}`);
  // the dashboard's static files, copied as the monitor's build script does
  cpSync(path.join(repo, 'monitor/src/admin/dashboard'), path.join(outDir, 'admin/dashboard'), { recursive: true });
}, 60_000);

afterAll(() => {
  rmSync(outDir, { recursive: true, force: true });
  rmSync(workdir, { recursive: true, force: true });
});

interface Running {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

function run(env: Record<string, string>): Running {
  // a clean environment in an empty directory: no INIT_CWD, no .env, nothing inherited but PATH.
  // The build sits outside the repository, so NODE_PATH points it at the installed dependencies.
  const nodePath = [path.join(repo, 'monitor/node_modules'), path.join(repo, 'node_modules')].join(path.delimiter);
  const child = spawn(process.execPath, [path.join(outDir, 'main.js')], {
    cwd: workdir,
    env: { PATH: process.env.PATH ?? '', NODE_PATH: nodePath, ...env },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const fast = { PROBE_INTERVAL: '0.1', TIME_WINDOW: '0.5', REQUEST_TIMEOUT: '0.5', ADMIN_PORT: '0', PROXY_PORT: '0' };

/**
 * The contract is exit 0 within 1 s of SIGTERM, and the process keeps it on its own clock: a
 * 900 ms deadline forces the exit, and its stop line comes last only when the shutdown ended
 * before that deadline. Measured from here, kill() to 'exit' also holds the scheduling of two
 * processes, which on a loaded machine (load 15 on 2 cores) can take most of that second: 3 s,
 * which still fails a process whose deadline did not hold and that waited for its clients
 * (REQUEST_TIMEOUT 30 s, a webhook that never answers).
 */
const EXIT_WITHIN_MS = 3_000;

it('opens against a closed port, shows it on stdout, and exits 0 within 1 s of SIGTERM', async () => {
  const port = await closedPort();
  const monitor = run({ ...fast, HTTP_CLIENT: `127.0.0.1:${port}` });
  await waitFor(() => monitor.stdout().includes('Circuit changed from open to half_open'), 'the half_open line');
  const lines = monitor.stdout().split('\n');
  expect(lines[0]).toMatch(/^\S+Z info monitor started: probing http:\/\/127\.0\.0\.1:\d+\/ every 0\.1 s/);
  expect(lines).toContainEqual(
    expect.stringMatching(/ warn Circuit changed from closed to open \(3 consecutive failures, last: ECONNREFUSED; trial in 0\.5 s\)$/),
  );
  const signalledAt = performance.now();
  monitor.child.kill('SIGTERM');
  const { code, at } = await monitor.exited;
  expect(code).toBe(0);
  expect(at - signalledAt).toBeLessThan(EXIT_WITHIN_MS);
  expect(monitor.stdout()).toMatch(/ info monitor stopped \(SIGTERM\); final state: (open|half_open)\n$/);
  expect(monitor.stderr()).toBe('');
});

it('exits 0 within 1 s of SIGINT with a probe in flight, and aborts that probe', async () => {
  let requests = 0;
  const hanging = await startServer(() => (requests += 1));
  const monitor = run({ ...fast, REQUEST_TIMEOUT: '30', HTTP_CLIENT: `127.0.0.1:${hanging.port}` });
  await waitFor(() => requests === 1, 'the first probe');
  const signalledAt = performance.now();
  monitor.child.kill('SIGINT');
  const { code, at } = await monitor.exited;
  expect(code).toBe(0);
  expect(at - signalledAt).toBeLessThan(EXIT_WITHIN_MS);
  await waitFor(() => hanging.closedSockets === 1, 'the probe socket to close');
  expect(monitor.stdout()).toMatch(/monitor stopped \(SIGINT\); final state: closed\n$/);
  await hanging.close();
});

/** One GET on `agent`, its body read; the connection stays open when the agent keeps it alive. */
function get(port: number, agent: http.Agent, path = '/'): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

it('exits at once on SIGTERM after pipelined calls were ended by a malformed request, and with idle keep-alive clients', async () => {
  const upstream = await startServer((_req, res) => res.end('{}'));
  const [proxyPort, adminPort] = [await closedPort(), await closedPort()];
  const monitor = run({ ...fast, HTTP_CLIENT: `127.0.0.1:${upstream.port}`, PROXY_PORT: String(proxyPort), ADMIN_PORT: String(adminPort) });
  await waitFor(() => /guarded proxy listening/.test(monitor.stdout()) && /admin API listening/.test(monitor.stdout()), 'both servers to listen');
  // idle keep-alive connections on both servers
  const agent = new http.Agent({ keepAlive: true });
  expect(await get(proxyPort, agent)).toBe(200);
  expect(await get(adminPort, agent, '/healthz')).toBe(200);
  // three pipelined calls, then a request Node cannot parse: only a 400 comes back, and a close
  const pipelined = 'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n';
  const { text } = await rawExchange(proxyPort, `${pipelined}NOT HTTP\r\n\r\n`);
  expect(text).toMatch(/^HTTP\/1\.1 400 /);
  // let the upstream answer the calls that were already on their way
  await new Promise((resolve) => setTimeout(resolve, 100));

  const signalledAt = performance.now();
  monitor.child.kill('SIGTERM');
  const { code, at } = await monitor.exited;
  expect(code).toBe(0);
  expect(at - signalledAt).toBeLessThan(EXIT_WITHIN_MS);
  // ended by the empty event loop, not by the deadline's forced exit
  expect(monitor.stdout()).not.toContain('exiting anyway');
  expect(monitor.stdout()).toMatch(/monitor stopped \(SIGTERM\); final state: closed\n$/);
  agent.destroy();
  await upstream.close();
});

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

// 127.0.0.2 is this machine too (Linux routes all of 127.0.0.0/8 to loopback), but not 127.0.0.1
it.each([
  ['unset (loopback)', undefined, false],
  ['0.0.0.0', '0.0.0.0', true],
])('LISTEN_ADDRESS %s: both servers listen there, and only there', async (_label, address, everywhere) => {
  const upstream = await startServer((_req, res) => res.end('{}'));
  const [proxyPort, adminPort] = [await closedPort(), await closedPort()];
  const env = { ...fast, HTTP_CLIENT: `127.0.0.1:${upstream.port}`, PROXY_PORT: String(proxyPort), ADMIN_PORT: String(adminPort) };
  const monitor = run(address === undefined ? env : { ...env, LISTEN_ADDRESS: address });
  await waitFor(() => /guarded proxy listening/.test(monitor.stdout()) && /admin API listening/.test(monitor.stdout()), 'both servers to listen');
  const shown = address ?? '127.0.0.1';
  expect(monitor.stdout()).toContain(`guarded proxy listening on port ${proxyPort} at ${shown}\n`);
  expect(monitor.stdout()).toContain(`admin API listening on port ${adminPort} at ${shown}\n`);
  expect(monitor.stdout()).toContain(` LISTEN_ADDRESS=${shown}\n`);
  for (const port of [proxyPort, adminPort]) {
    expect(await accepts('127.0.0.1', port)).toBe(true);
    expect(await accepts('127.0.0.2', port)).toBe(everywhere);
  }
  monitor.child.kill('SIGTERM');
  expect((await monitor.exited).code).toBe(0);
  await upstream.close();
});

/** The status of GET `path` on the admin port with this Host header. */
function statusUnder(port: number, host: string, path = '/healthz'): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false, headers: { Host: host } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

it.each([
  // another loopback address, so asking 127.0.0.1 would find nothing
  ['127.0.0.2', {}],
  // the image's address and compose's ADMIN_ALLOWED_HOSTS: the healthcheck asks 127.0.0.1
  ['0.0.0.0', { ADMIN_ALLOWED_HOSTS: 'monitor,' }],
])("the image's healthcheck asks the monitor where it listens (LISTEN_ADDRESS %s), under a Host it answers", async (address, more: Record<string, string>) => {
  const upstream = await startServer((_req, res) => res.end('{}'));
  const adminPort = await closedPort();
  const env = { ADMIN_PORT: String(adminPort), LISTEN_ADDRESS: address, ...more };
  const monitor = run({ ...fast, ...env, HTTP_CLIENT: `127.0.0.1:${upstream.port}` });
  await waitFor(() => /admin API listening/.test(monitor.stdout()) && / info probe ok: /.test(monitor.stdout()), 'the admin API and a probe');
  const healthcheck = spawnSync(process.execPath, [path.join(outDir, 'healthcheck.js')], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
  expect(healthcheck.status).toBe(0);
  expect(monitor.stdout()).not.toMatch(/refused \(421\)/);
  monitor.child.kill('SIGTERM');
  await monitor.exited;
  await upstream.close();
});

it('answers the names of ADMIN_ALLOWED_HOSTS and the machine\'s host name, and refuses others with 421 (the wiring from the environment)', async () => {
  const upstream = await startServer((_req, res) => res.end('{}'));
  const adminPort = await closedPort();
  const monitor = run({ ...fast, HTTP_CLIENT: `127.0.0.1:${upstream.port}`, ADMIN_PORT: String(adminPort), ADMIN_ALLOWED_HOSTS: 'monitor' });
  await waitFor(() => /admin API listening/.test(monitor.stdout()) && / info probe ok: /.test(monitor.stdout()), 'the admin API and a probe');
  try {
    expect(monitor.stdout()).toContain(' ADMIN_ALLOWED_HOSTS=monitor ');
    expect(await statusUnder(adminPort, `monitor:${adminPort}`, '/metrics')).toBe(200);
    expect(await statusUnder(adminPort, `${hostname()}:${adminPort}`)).toBe(200);
    expect(await statusUnder(adminPort, `rebind.example:${adminPort}`, '/status')).toBe(421);
    await waitFor(() => / warn admin request refused \(421\) from 127\.0\.0\.1: Host "rebind\.example:\d+" is not an IP address/.test(monitor.stdout()), 'the refusal line');
  } finally {
    monitor.child.kill('SIGTERM');
    await monitor.exited;
  }
  await upstream.close();
});

it('exits 1, naming LISTEN_ADDRESS, when the address is not one of this machine', async () => {
  // 192.0.2.0/24 is reserved for documentation: no machine has it
  const monitor = run({ ...fast, HTTP_CLIENT: '127.0.0.1:9', ADMIN_PORT: String(await closedPort()), LISTEN_ADDRESS: '192.0.2.1' });
  const { code } = await monitor.exited;
  expect(code).toBe(1);
  expect(monitor.stdout()).toMatch(/ error ADMIN_PORT=\d+: cannot listen: EADDRNOTAVAIL \(LISTEN_ADDRESS=192\.0\.2\.1 is not available on this machine\)\n/);
});

it('writes json lines with LOG_FORMAT=json', async () => {
  const server = await startServer((_req, res) => res.end('{}'));
  const monitor = run({ ...fast, HTTP_CLIENT: `127.0.0.1:${server.port}`, LOG_FORMAT: 'json' });
  await waitFor(() => monitor.stdout().includes('"event":"probe"'), 'a probe line');
  monitor.child.kill('SIGTERM');
  await monitor.exited;
  const objects = monitor.stdout().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(objects[0]).toMatchObject({ level: 'info', event: 'start', config: { HTTP_CLIENT: `http://127.0.0.1:${server.port}` } });
  expect(objects.find((line) => line.event === 'probe')).toMatchObject({ level: 'info', ok: true, status: 200, latencyMs: expect.any(Number) });
  await server.close();
});

it('exits 78 before any probe, naming every bad variable', async () => {
  let requests = 0;
  const server = await startServer((_req, res) => {
    requests += 1;
    res.end();
  });
  const monitor = run({ HTTP_CLIENT: `127.0.0.1:${server.port}`, ERROR_THRESHOLD: '0', ACCEPT_CLIENT_ERRORS: 'maybe' });
  const { code } = await monitor.exited;
  expect(code).toBe(78);
  expect(monitor.stderr().trim().split('\n')).toEqual([
    'configuration error: ERROR_THRESHOLD="0" is not valid: expected an integer >= 1',
    'configuration error: ACCEPT_CLIENT_ERRORS="maybe" is not valid: expected true, false, 1, 0, yes or no (any case)',
  ]);
  expect(monitor.stdout()).toBe('');
  expect(requests).toBe(0);
  await server.close();
});

it('exits 78 when HTTP_CLIENT is missing', async () => {
  const monitor = run({});
  const { code } = await monitor.exited;
  expect(code).toBe(78);
  expect(monitor.stderr()).toMatch(/^configuration error: HTTP_CLIENT is not set: expected host:port/);
});

// a value that rounds to 0 ms used to reach the breaker, which threw at start: exit 1 and a stack trace
it('exits 78 with one line for a TIME_WINDOW below 1 ms', async () => {
  const monitor = run({ HTTP_CLIENT: '127.0.0.1:9', TIME_WINDOW: '0.0000001' });
  const { code } = await monitor.exited;
  expect(code).toBe(78);
  expect(monitor.stderr()).toBe(
    'configuration error: TIME_WINDOW="0.0000001" is not valid: expected a number of seconds >= 0.001 and <= 86400 (decimals allowed, e.g. 0.5)\n',
  );
  expect(monitor.stdout()).toBe('');
});

it('exits 78 for a bad MAX_CONCURRENT_CALLS, in the environment and in a route, one line each', async () => {
  writeFileSync(path.join(workdir, 'limits.yaml'), ['routes:', '  - name: catalog', '    prefix: /api/catalog/', '    upstream: 127.0.0.1:9', '    maxConcurrentCalls: 0', ''].join('\n'));
  const monitor = run({ HTTP_CLIENT: '127.0.0.1:9', MAX_CONCURRENT_CALLS: 'auto', ROUTES_FILE: 'limits.yaml' });
  const { code } = await monitor.exited;
  expect(code).toBe(78);
  expect(monitor.stderr().trim().split('\n')).toEqual([
    'configuration error: MAX_CONCURRENT_CALLS="auto" is not valid: expected off, an integer >= 1 (a fixed limit), or adaptive',
    'configuration error: ROUTES_FILE=limits.yaml: route "catalog" (line 5): maxConcurrentCalls "0" is not valid: expected off, an integer >= 1 (a fixed limit), or adaptive',
  ]);
  expect(monitor.stdout()).toBe('');
});

it('exits 78 for a bad ROUTES_FILE before anything starts, one line per problem with the variables\'', async () => {
  let requests = 0;
  const server = await startServer((_req, res) => {
    requests += 1;
    res.end();
  });
  // relative to the working directory, as the error lines show it
  writeFileSync(
    path.join(workdir, 'routes.yaml'),
    ['routes:', '  - name: catalog', '    prefix: /api/catalog/', `    upstream: 127.0.0.1:${server.port}`, '  - name: reviews', '    prefix: api/reviews/', `    upstream: 127.0.0.1:${server.port}`, '    errorTreshold: 2', ''].join('\n'),
  );
  const [adminPort, proxyPort] = [await closedPort(), await closedPort()];
  const monitor = run({
    HTTP_CLIENT: `127.0.0.1:${server.port}`,
    ROUTES_FILE: 'routes.yaml',
    ERROR_THRESHOLD: '0',
    ADMIN_PORT: String(adminPort),
    PROXY_PORT: String(proxyPort),
  });
  const { code } = await monitor.exited;
  expect(code).toBe(78);
  expect(monitor.stderr().trim().split('\n')).toEqual([
    'configuration error: ERROR_THRESHOLD="0" is not valid: expected an integer >= 1',
    'configuration error: ROUTES_FILE=routes.yaml: route "reviews" (line 6): prefix "api/reviews/" is not valid: expected a path starting with / (no spaces, no ? or #), e.g. /api/catalog/',
    expect.stringMatching(/^configuration error: ROUTES_FILE=routes\.yaml: route "reviews" \(line 8\): unknown key "errorTreshold": expected name, prefix, upstream, or a setting: errorThreshold, /),
  ]);
  // no start line, no listener, no probe
  expect(monitor.stdout()).toBe('');
  expect(requests).toBe(0);
  expect(await accepts('127.0.0.1', adminPort)).toBe(false);
  expect(await accepts('127.0.0.1', proxyPort)).toBe(false);
  await server.close();
});

it("with a good ROUTES_FILE, probes each route's upstream at its probePath, and says so in the start line", async () => {
  const probed: string[] = [];
  const catalog = await startServer((req, res) => (probed.push(`catalog ${req.url}`), res.end('{}')));
  const reviews = await startServer((req, res) => (probed.push(`reviews ${req.url}`), res.end('{}')));
  const routes = [
    { name: 'catalog', prefix: '/api/catalog/', upstream: `127.0.0.1:${catalog.port}`, probePath: '/api/catalog/health' },
    { name: 'reviews', prefix: '/api/reviews/', upstream: `127.0.0.1:${reviews.port}`, errorThreshold: 5 },
  ];
  writeFileSync(path.join(workdir, 'routes.json'), JSON.stringify({ routes }));
  // HTTP_CLIENT is still required, but with a routes file nothing goes there
  const monitor = run({ ...fast, HTTP_CLIENT: '127.0.0.1:9', ROUTES_FILE: 'routes.json' });
  await waitFor(() => probed.includes('catalog /api/catalog/health') && probed.includes('reviews /'), 'a probe on each route');
  const [start] = monitor.stdout().split('\n');
  expect(start).toContain(`monitor started: probing catalog=http://127.0.0.1:${catalog.port}/api/catalog/health reviews=http://127.0.0.1:${reviews.port}/ every 0.1 s; `);
  expect(start).toContain(' ROUTES_FILE=routes.json ');
  monitor.child.kill('SIGTERM');
  expect((await monitor.exited).code).toBe(0);
  expect(monitor.stderr()).toBe('');
  await Promise.all([catalog.close(), reviews.close()]);
});

it('MAX_CONCURRENT_CALLS per route: a full limit answers overloaded while probes still go out; /status and /metrics show each limit', async () => {
  let probes = 0;
  let hung = 0;
  const upstream = await startServer((req, res) => {
    if (req.url === '/health') {
      probes += 1;
      res.end('{}');
    } else {
      hung += 1;
    }
  });
  const routes = [
    { name: 'fixed', prefix: '/fixed/', upstream: `127.0.0.1:${upstream.port}`, probePath: '/health', maxConcurrentCalls: 2, errorThreshold: 7, halfOpenMaxCalls: 2, timeWindow: 4 },
    { name: 'adapt', prefix: '/adapt/', upstream: `127.0.0.1:${upstream.port}`, probePath: '/health', maxConcurrentCalls: 'adaptive' },
  ];
  writeFileSync(path.join(workdir, 'limits.json'), JSON.stringify({ routes }));
  const [adminPort, proxyPort] = [await closedPort(), await closedPort()];
  const monitor = run({ ...fast, REQUEST_TIMEOUT: '20', HTTP_CLIENT: '127.0.0.1:9', ROUTES_FILE: 'limits.json', ADMIN_PORT: String(adminPort), PROXY_PORT: String(proxyPort) });
  await waitFor(() => monitor.stdout().includes('guarded proxy listening') && monitor.stdout().includes('admin API listening'), 'both servers to listen');
  const held = [1, 2].map((i) => {
    const client = http.request({ host: '127.0.0.1', port: proxyPort, path: `/fixed/hang/${i}`, agent: false });
    client.on('error', () => undefined);
    client.end();
    return client;
  });
  await waitFor(() => hung === 2, 'the limit to be full at the upstream');
  const get = (port: number, target: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: target, agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      }).on('error', reject);
    });
  const refused = await get(proxyPort, '/fixed/hang/3');
  expect(refused.status).toBe(503);
  expect(JSON.parse(refused.body)).toMatchObject({ error: 'overloaded' });
  expect(hung).toBe(2);
  // the probes are outside the limit: they keep going out while it is full
  const before = probes;
  await waitFor(() => probes >= before + 4, 'probes while the limit is full');

  type RouteEntry = { name: string; concurrency: unknown; settings: unknown; openWindowSeconds: number; secondsInState: unknown; failureRate: unknown };
  const status = JSON.parse((await get(adminPort, '/status')).body) as { routes: RouteEntry[] };
  expect(status.routes.map((route) => [route.name, route.concurrency])).toEqual([
    ['fixed', { mode: 'fixed', limit: 2, inFlight: 2 }],
    ['adapt', { mode: 'adaptive', limit: 10, inFlight: 0 }],
  ]);
  // each route's own settings (what its counters count against) and its window in force
  expect(status.routes.map((route) => [route.name, route.settings, route.openWindowSeconds, route.failureRate])).toEqual([
    ['fixed', { errorThreshold: 7, successThreshold: 3, halfOpenMaxCalls: 2, timeWindow: 4, maxConcurrentCalls: 2 }, 4, null],
    ['adapt', { errorThreshold: 3, successThreshold: 3, halfOpenMaxCalls: 1, timeWindow: 0.5, maxConcurrentCalls: 'adaptive' }, 0.5, null],
  ]);
  expect(status.routes.map((route) => typeof route.secondsInState)).toEqual(['number', 'number']);
  const metrics = (await get(adminPort, '/metrics')).body;
  expect(metrics).toContain('circuit_breaker_concurrency_limit{route="fixed"} 2');
  expect(metrics).toContain('circuit_breaker_concurrency_in_flight{route="fixed"} 2');
  expect(metrics).toContain('circuit_breaker_concurrency_limit{route="adapt"} 10');
  expect(metrics).toContain('circuit_breaker_calls_total{route="fixed",source="proxy",outcome="overloaded"} 1');
  expect(metrics).toContain('circuit_breaker_overload_rejections_total{route="fixed",reason="concurrency_limit"} 1');
  expect(monitor.stdout().split('\n')[0]).toContain(' MAX_CONCURRENT_CALLS=off ');

  for (const client of held) client.destroy();
  monitor.child.kill('SIGTERM');
  expect((await monitor.exited).code).toBe(0);
  await upstream.close();
});

it('exits 78 when ROUTES_FILE cannot be read', async () => {
  const monitor = run({ HTTP_CLIENT: '127.0.0.1:9', ROUTES_FILE: '/nonexistent/routes.yaml' });
  const { code } = await monitor.exited;
  expect(code).toBe(78);
  expect(monitor.stderr()).toBe('configuration error: ROUTES_FILE=/nonexistent/routes.yaml cannot be read (ENOENT): expected a readable JSON or YAML file\n');
  expect(monitor.stdout()).toBe('');
});

describe('ALERT_WEBHOOK_URL', () => {
  const flapping = { ...fast, ERROR_THRESHOLD: '1', SUCCESS_THRESHOLD: '1', TIME_WINDOW: '0.2' };
  const hooks: Receiver[] = [];
  afterEach(async () => {
    for (const hook of hooks.splice(0)) await hook.close();
  });
  const transitions = (stdout: string): string[] => [...stdout.matchAll(/Circuit changed from (\w+) to (\w+)/g)].map(([, from, to]) => `${from}->${to}`);

  it('on SIGTERM sends what is queued within the shutdown budget, then exits 0 within 1 s', async () => {
    const port = await closedPort();
    // the first POST is held until after SIGTERM, so the next alerts wait in the queue
    let held: ReceivedPost | undefined;
    const hook = await startReceiver((post, index) => (index === 1 ? (held = post) : answerWith(200)(post)));
    hooks.push(hook);
    const monitor = run({ ...flapping, HTTP_CLIENT: `127.0.0.1:${port}`, ALERT_WEBHOOK_URL: `${hook.url}/alerts` });
    await waitFor(() => held !== undefined && transitions(monitor.stdout()).length >= 4, 'a held POST and three alerts queued');
    expect(monitor.stdout()).toContain(`ALERT_WEBHOOK_URL=http://127.0.0.1:${hook.port}/... ALERT_WEBHOOK_FORMAT=json`);

    const signalledAt = performance.now();
    monitor.child.kill('SIGTERM');
    setTimeout(() => held?.response.end(), 100);
    const { code, at } = await monitor.exited;
    expect(code).toBe(0);
    expect(at - signalledAt).toBeLessThan(EXIT_WITHIN_MS);
    // one POST per transition the log shows, in order; all but the first went out after SIGTERM.
    // The stop line reads the state, which may end an open window: that last transition comes
    // after the flush and is not sent (counted dropped).
    const logged = transitions(monitor.stdout());
    const received = hook.alerts.map((alert) => `${String(alert.from)}->${String(alert.to)}`);
    expect(received.length).toBeGreaterThanOrEqual(4);
    expect(logged.slice(0, received.length)).toEqual(received);
    if (logged.length > received.length) expect(monitor.stdout()).toMatch(/Circuit changed from open to half_open .*\n.* monitor stopped/);
    expect(logged.length - received.length).toBeLessThanOrEqual(1);
    expect(hook.posts.slice(1).every((post) => post.at > signalledAt)).toBe(true);
    expect(monitor.stdout()).not.toContain('not sent');
    expect(monitor.stdout()).toMatch(/ info monitor stopped \(SIGTERM\); final state: \w+\n$/);
    expect(monitor.stderr()).toBe('');
  });

  it('a receiver that never answers does not hold the exit: 0 within 1 s, and what was not sent is said', async () => {
    const port = await closedPort();
    const hook = await startReceiver(() => undefined);
    hooks.push(hook);
    const monitor = run({ ...flapping, HTTP_CLIENT: `127.0.0.1:${port}`, ALERT_WEBHOOK_URL: hook.url });
    await waitFor(() => hook.posts.length === 1 && transitions(monitor.stdout()).length >= 3, 'a hung POST and alerts queued');
    const signalledAt = performance.now();
    monitor.child.kill('SIGTERM');
    const { code, at } = await monitor.exited;
    expect(code).toBe(0);
    expect(at - signalledAt).toBeLessThan(EXIT_WITHIN_MS);
    const [before, after] = monitor.stdout().split(/.* warn alert webhook: (?=\d+ alerts? not sent within the shutdown budget of 500 ms\n)/);
    expect(Number(/^\d+/.exec(after ?? '')?.[0])).toBe(transitions(before ?? '').length);
    expect(after).toMatch(/ info monitor stopped \(SIGTERM\); final state: \w+\n$/);
  });

  it('exits 78 for a webhook URL with credentials, without printing them', async () => {
    const monitor = run({ HTTP_CLIENT: '127.0.0.1:9', ALERT_WEBHOOK_URL: 'https://ops:hunter2@hooks.example/alerts' });
    const { code } = await monitor.exited;
    expect(code).toBe(78);
    expect(monitor.stderr()).toMatch(/^configuration error: ALERT_WEBHOOK_URL="https:\/\/\*\*\*@hooks\.example\/alerts" is not valid: expected an http:\/\/ or https:\/\/ URL without credentials/);
    expect(monitor.stderr() + monitor.stdout()).not.toContain('hunter2');
  });
});
