/**
 * The trip and recovery policies end to end on the local stack: real nginx, the built upstream with
 * its fault switch, the built monitor. Assertions are on the monitor's stdout and its HTTP answers.
 */
import { lineTime, startLocalStack, type LocalStack } from '../../support/local-stack';

jest.setTimeout(30_000);

const fast = { PROBE_INTERVAL: '0.1', TIME_WINDOW: '1', ERROR_THRESHOLD: '3', SUCCESS_THRESHOLD: '2', REQUEST_TIMEOUT: '1' };

let stack: LocalStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

async function start(env: Record<string, string>): Promise<LocalStack> {
  stack = await startLocalStack({ monitorEnv: { ...fast, ...env } });
  await stack.monitor.waitForLine(/ info probe ok: HTTP 200/, 10_000, 0);
  return stack;
}

/** Flips the upstream's fault switch the way users do: through nginx. */
async function fault(current: LocalStack, mode: string): Promise<void> {
  const response = await fetch(`${current.nginx.url}/fault/${mode}`, { method: 'PUT' });
  expect(response.status).toBe(200);
}

const status = async (current: LocalStack) => (await fetch(`${current.adminUrl}/status`)).json() as Promise<Record<string, unknown>>;

it('flaky at 60% with FAILURE_RATE_THRESHOLD=50: opens with the rate as the cause, not the consecutive count', async () => {
  const current = await start({ FAILURE_RATE_THRESHOLD: '50', SLIDING_WINDOW: '20', MINIMUM_CALLS: '10', ERROR_THRESHOLD: '50', PROBE_INTERVAL: '0.05' });
  expect(await status(current)).toMatchObject({ failureRate: { failures: 0 }, config: { FAILURE_RATE_THRESHOLD: 50, SLIDING_WINDOW: 20, MINIMUM_CALLS: 10 } });
  const before = current.monitor.lines.length;
  await fault(current, 'flaky?percent=60');
  const openLine = await current.monitor.waitForLine(/ warn Circuit changed from closed to open /, 15_000, before);
  const match = / \(failure rate ([\d.]+)% over the last (\d+) calls, last: HTTP 500; trial in 1 s\)$/.exec(openLine);
  expect(match).not.toBeNull();
  expect(Number(match![1])).toBeGreaterThanOrEqual(50);
  expect(Number(match![2])).toBeGreaterThanOrEqual(10);
  expect(Number(match![2])).toBeLessThanOrEqual(20);
  // both outcomes were seen on the way: it was the rate, not a run of failures
  const sinceFault = current.monitor.lines.slice(before, current.monitor.lines.indexOf(openLine));
  expect(sinceFault.some((line) => / info probe ok: HTTP 200/.test(line))).toBe(true);
  expect(sinceFault.some((line) => / warn probe failed: HTTP 500/.test(line))).toBe(true);
});

it('slow over SLOW_CALL_THRESHOLD: 200 answers count as failures with slow: reasons and open the circuit', async () => {
  const current = await start({ SLOW_CALL_THRESHOLD: '0.1' });
  const before = current.monitor.lines.length;
  await fault(current, 'slow?ms=300');
  const openLine = await current.monitor.waitForLine(/ warn Circuit changed from closed to open /, 15_000, before);
  expect(openLine).toMatch(/ \(3 consecutive failures, last: slow: 3\d\d ms; trial in 1 s\)$/);
  const failures = current.monitor.lines.slice(before).filter((line) => / warn probe failed: slow: \d+ ms \(HTTP 200\) \(\d\/3 consecutive failures\)$/.test(line));
  expect(failures).toHaveLength(3);
});

it('repeated trial failures back off: trial in 1 s, then about 2 s, then about 4 s (TIME_WINDOW_MAX=4)', async () => {
  const current = await start({ TIME_WINDOW_MAX: '4' });
  const before = current.monitor.lines.length;
  await current.nginx.stop();
  const opens: string[] = [];
  let from = before;
  for (let i = 0; i < 3; i += 1) {
    const line = await current.monitor.waitForLine(/ warn Circuit changed from (closed|half_open) to open /, 10_000, from);
    opens.push(line);
    from = current.monitor.lines.indexOf(line, from) + 1;
  }
  const windows = opens.map((line) => Number(/trial in ([\d.]+) s\)$/.exec(line)?.[1]));
  expect(windows[0]).toBe(1);
  // jitter takes up to 10% off a grown window
  expect(windows[1]).toBeGreaterThanOrEqual(1.8);
  expect(windows[1]).toBeLessThanOrEqual(2);
  expect(windows[2]).toBeGreaterThanOrEqual(3.6);
  expect(windows[2]).toBeLessThanOrEqual(4);
  // the log rounds to 0.1 s; the window itself ran its whole length before the trial
  expect(lineTime(opens[2]!) - lineTime(opens[1]!)).toBeGreaterThanOrEqual((windows[1]! - 0.05) * 1000);
  // the proxy's 503 and /status carry the window in force
  const rejected = await fetch(`${current.proxyUrl}/`);
  expect(rejected.status).toBe(503);
  expect(Number(rejected.headers.get('retry-after'))).toBeGreaterThanOrEqual(3);
  expect(Number(rejected.headers.get('retry-after'))).toBeLessThanOrEqual(4);
  const now = await status(current);
  expect(now.state).toBe('open');
  // in whole milliseconds: the float difference of two decimals can exceed 0.05 by 1e-16
  expect(Math.abs(Math.round((now.openWindowSeconds as number) * 1000) - Math.round(windows[2]! * 1000))).toBeLessThanOrEqual(50);
});

it('an upstream 503 with Retry-After: 5 and TIME_WINDOW=1 keeps the circuit open about 5 s; the proxy says so', async () => {
  const current = await start({});
  const before = current.monitor.lines.length;
  await fault(current, 'error?status=503&retryAfter=5');
  const openLine = await current.monitor.waitForLine(/ warn Circuit changed from closed to open /, 10_000, before);
  expect(openLine).toMatch(/ \(3 consecutive failures, last: HTTP 503; trial in 5 s, as the upstream's Retry-After asked\)$/);
  expect(current.monitor.lines.slice(before)).toContainEqual(expect.stringMatching(/ warn probe failed: HTTP 503 in \d+ ms, Retry-After 5 s \(3\/3 consecutive failures\)$/));

  const rejected = await fetch(`${current.proxyUrl}/`);
  expect(rejected.status).toBe(503);
  expect(rejected.headers.get('retry-after')).toBe('5');
  expect(await rejected.json()).toEqual({ error: 'circuit open', state: 'open', retryAfterSeconds: 5 });
  expect(await status(current)).toMatchObject({ state: 'open', openWindowSeconds: 5 });

  await fault(current, 'normal');
  const halfOpenLine = await current.monitor.waitForLine(/ info Circuit changed from open to half_open /, 10_000, before);
  const openFor = lineTime(halfOpenLine) - lineTime(openLine);
  // log times are wall-clock, the window is measured on the monotonic clock: a few ms of slew apart
  expect(openFor).toBeGreaterThanOrEqual(4_990);
  expect(openFor).toBeLessThanOrEqual(5_150);
  await current.monitor.waitForLine(/ info Circuit changed from half_open to closed /, 5_000, before);
});
