/**
 * End-to-end on the local stack: real nginx, the built upstream and the built monitor as processes
 * on loopback. Assertions are on the monitor's real stdout. Short timings: probes every 0.2 s, a 1 s
 * open window.
 */
import { readFileSync } from 'node:fs';
import { lineTime, startLocalStack, type LocalStack } from '../../support/local-stack';
import { waitFor } from '../../../monitor/test/support/wait-for';

jest.setTimeout(30_000);

const fast = {
  PROBE_INTERVAL: '0.2',
  TIME_WINDOW: '1',
  ERROR_THRESHOLD: '3',
  SUCCESS_THRESHOLD: '2',
  REQUEST_TIMEOUT: '0.5',
};

let stack: LocalStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

async function start(env: Record<string, string> = {}, nginxProxyTimeout?: string): Promise<LocalStack> {
  stack = await startLocalStack({ monitorEnv: { ...fast, ...env }, ...(nginxProxyTimeout ? { nginxProxyTimeout } : {}) });
  await stack.monitor.waitForLine(/ info probe ok: HTTP 200/, 10_000, 0);
  return stack;
}

/** Flips the upstream's fault switch the way users do: through nginx. */
async function fault(current: LocalStack, mode: string): Promise<void> {
  const response = await fetch(`${current.nginx.url}/fault/${mode}`, { method: 'PUT' });
  expect(response.status).toBe(200);
}

/** The monitor's lines from index `from` on (whole log when omitted). */
const linesFrom = (current: LocalStack, from = 0) => current.monitor.lines.slice(from);
const indexOf = (lines: string[], pattern: RegExp, from = 0) => lines.findIndex((line, i) => i >= from && pattern.test(line));

it('nginx stopped like docker does (SIGQUIT): opens after ERROR_THRESHOLD failures, no calls while open, half_open on time, closes once nginx is back', async () => {
  const current = await start();
  const before = current.monitor.lines.length;
  await current.nginx.stop();

  const openLine = await current.monitor.waitForLine(/ warn Circuit changed from closed to open /, 10_000, before);
  expect(openLine).toMatch(/\(3 consecutive failures, last: ECONNREFUSED; trial in 1 s\)$/);
  const halfOpenLine = await current.monitor.waitForLine(/ info Circuit changed from open to half_open /, 5_000, before);
  const afterStop = linesFrom(current, before);
  const open = indexOf(afterStop, /Circuit changed from closed to open/);
  expect(afterStop.slice(0, open).filter((line) => / warn probe failed: ECONNREFUSED/.test(line))).toHaveLength(3);

  const windowMs = lineTime(halfOpenLine) - lineTime(openLine);
  // never early; late by less than 500 ms, room for the monitor's timer on a loaded machine (the
  // trial at the window's very end is loop.test.ts's, on a fake clock)
  expect(windowMs).toBeGreaterThanOrEqual(1_000);
  expect(windowMs).toBeLessThan(1_500);
  // while open: skipped lines only (that none reaches the network is the next test's business)
  const whileOpen = afterStop.slice(open + 1, indexOf(afterStop, /Circuit changed from open to half_open/));
  expect(whileOpen.length).toBeGreaterThanOrEqual(3);
  for (const line of whileOpen) expect(line).toMatch(/ info probe skipped: circuit open, trial in [\d.]+ s$/);

  // the trial fails while nginx is still down, and the circuit reopens for a fresh window
  await current.monitor.waitForLine(/ warn Circuit changed from half_open to open \(trial failed: ECONNREFUSED; trial in 1 s\)$/, 5_000, before);

  const restart = current.monitor.lines.length;
  await current.nginx.start();
  await current.monitor.waitForLine(/ info Circuit changed from open to half_open /, 5_000, restart);
  const closedLine = await current.monitor.waitForLine(/ info Circuit changed from half_open to closed \(2 consecutive trial successes\)$/, 5_000, restart);
  const recovery = linesFrom(current, restart);
  const closedAt = recovery.indexOf(closedLine);
  const trials = recovery.slice(0, closedAt).filter((line) => / info probe ok: HTTP 200 in \d+ ms \(trial \d\/2\)$/.test(line));
  expect(trials).toHaveLength(2);
  // trials are spaced by PROBE_INTERVAL (0.2 s), not sent back to back
  expect(lineTime(trials[1]!) - lineTime(trials[0]!)).toBeGreaterThanOrEqual(150);
});

it('while open, no probe reaches nginx even once it is back: the first request it sees is the trial, at the end of the window', async () => {
  const current = await start({ TIME_WINDOW: '2' });
  const before = current.monitor.lines.length;
  await current.nginx.stop();
  const openLine = await current.monitor.waitForLine(/ warn Circuit changed from closed to open /, 10_000, before);
  await current.nginx.start();
  const backAt = Date.now();
  const halfOpenLine = await current.monitor.waitForLine(/ info Circuit changed from open to half_open /, 5_000, before);
  await current.monitor.waitForLine(/ info probe ok: HTTP 200 in \d+ ms \(trial 1\/2\)$/, 5_000, before);

  const [openedAt, windowEndedAt] = [lineTime(openLine), lineTime(halfOpenLine)];
  // nginx answered for most of the window, so a probe sent then would be in its access log
  expect(windowEndedAt - backAt).toBeGreaterThanOrEqual(1_000);
  // nginx writes its access log line after it has sent the answer, so the monitor may log the trial
  // first: wait for nginx's line rather than read the log once
  const sinceOpenLines = () => current.nginx.requests().filter((request) => request.startedAt >= openedAt);
  await waitFor(() => sinceOpenLines().length > 0, "nginx's access log line for the trial");
  const sinceOpen = sinceOpenLines();
  expect(sinceOpen.filter((request) => request.startedAt < windowEndedAt)).toEqual([]);
  expect(sinceOpen[0]).toMatchObject({ request: 'GET / HTTP/1.1', status: 200 });
});

it('upstream fault switch to 500: opens with reason HTTP 500, nginx sees no request while open, recovers when switched back', async () => {
  const current = await start();
  const before = current.monitor.lines.length;
  await fault(current, 'error');
  const openLine = await current.monitor.waitForLine(/ warn Circuit changed from closed to open /, 10_000, before);
  expect(openLine).toMatch(/last: HTTP 500;/);
  expect(linesFrom(current, before).filter((line) => / warn probe failed: HTTP 500 in \d+ ms \(\d\/3 consecutive failures\)$/.test(line))).toHaveLength(3);

  // nginx's access log counts what reached the network while the circuit was open
  const requestsAtOpen = readFileSync(current.nginx.accessLogPath, 'utf8').split('\n').filter(Boolean).length;
  await current.monitor.waitForLine(/ info probe skipped: circuit open, trial in 0\.2 s$/, 5_000, before);
  expect(readFileSync(current.nginx.accessLogPath, 'utf8').split('\n').filter(Boolean)).toHaveLength(requestsAtOpen);

  await fault(current, 'normal');
  await current.monitor.waitForLine(/ info Circuit changed from half_open to closed /, 10_000, before);
});

it('upstream hangs: failures read "timeout after 500 ms" and the monitor stays responsive', async () => {
  const current = await start();
  const before = current.monitor.lines.length;
  await fault(current, 'hang');
  const firstFailure = await current.monitor.waitForLine(/ warn probe failed: timeout after 500 ms \(1\/3 consecutive failures\)$/, 10_000, before);
  // responsive: the next two probes hang back to back (500 ms each, PROBE_INTERVAL is shorter), and
  // /healthz answers all along, many times over. A monitor blocked by its probe could answer only in
  // the two gaps between them, whatever the speed of this machine
  const opened = (): boolean => current.monitor.lines.slice(before).some((line) => / Circuit changed from closed to open /.test(line));
  const answeredAt: number[] = [];
  while (!opened()) {
    const health = await fetch(`${current.adminUrl}/healthz`);
    expect(health.status).toBe(200);
    await health.arrayBuffer();
    answeredAt.push(Date.now());
  }
  const openLine = await current.monitor.waitForLine(/ warn Circuit changed from closed to open /, 10_000, before);
  expect(openLine).toMatch(/last: timeout after 500 ms;/);
  expect(answeredAt.filter((at) => at > lineTime(firstFailure) && at < lineTime(openLine)).length).toBeGreaterThan(3);
});

it.each([
  ['false', / warn probe failed: HTTP 404 in \d+ ms \(1\/3 consecutive failures\)$/],
  ['true', / info probe ok: HTTP 404 in \d+ ms$/],
])('upstream answers 404 with ACCEPT_CLIENT_ERRORS=%s', async (accept, expected) => {
  const current = await start({ ACCEPT_CLIENT_ERRORS: accept });
  const before = current.monitor.lines.length;
  await fault(current, 'client-error');
  await current.monitor.waitForLine(expected, 10_000, before);
});

it('upstream process killed while nginx stays up: failures read HTTP 502', async () => {
  const current = await start();
  const before = current.monitor.lines.length;
  await current.upstream.stop('SIGKILL');
  const openLine = await current.monitor.waitForLine(/ warn Circuit changed from closed to open /, 10_000, before);
  expect(openLine).toMatch(/last: HTTP 502;/);
  expect(linesFrom(current, before).filter((line) => / warn probe failed: HTTP 502/.test(line))).toHaveLength(3);
});

it('while open, the guarded proxy answers 503 at once, without calling nginx', async () => {
  const current = await start({ TIME_WINDOW: '30' });
  const forwarded = await fetch(`${current.proxyUrl}/?via=proxy`);
  expect(forwarded.status).toBe(200);
  expect(await forwarded.json()).toMatchObject({ service: 'upstream' });

  const before = current.monitor.lines.length;
  await current.nginx.stop();
  await current.monitor.waitForLine(/Circuit changed from closed to open/, 10_000, before);
  // nginx back up, circuit still open for 30 s: a request that got through would show in its access log
  await current.nginx.start();
  const accessLog = () => readFileSync(current.nginx.accessLogPath, 'utf8').split('\n').filter((line) => line && !line.includes('/nginx-health'));
  const requestsBefore = accessLog().length;
  for (let i = 0; i < 20; i += 1) {
    const response = await fetch(`${current.proxyUrl}/`);
    expect(response.status).toBe(503);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await response.json()).toMatchObject({ state: 'open' });
  }
  // "at once": no request reached nginx, so none waited on it (the 503's speed is bench:proxy's)
  expect(accessLog()).toHaveLength(requestsBefore);
});
