/**
 * The real process: `node monitor/dist/main.js` (built by `npm test`'s pretest step).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { closedPort, startServer } from './support/http-server';

const MAIN = path.resolve(__dirname, '../dist/main.js');
const workdir = mkdtempSync(path.join(tmpdir(), 'monitor-test-'));
afterAll(() => rmSync(workdir, { recursive: true, force: true }));

interface Running {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

function run(env: Record<string, string>): Running {
  // a clean environment in an empty directory: no INIT_CWD, no .env, nothing inherited but PATH
  const child = spawn(process.execPath, [MAIN], { cwd: workdir, env: { PATH: process.env.PATH ?? '', ...env } });
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
  expect(at - signalledAt).toBeLessThan(1_000);
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
  expect(at - signalledAt).toBeLessThan(1_000);
  await waitFor(() => hanging.closedSockets === 1, 'the probe socket to close');
  expect(monitor.stdout()).toMatch(/monitor stopped \(SIGINT\); final state: closed\n$/);
  await hanging.close();
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
