/**
 * PROXY_FALLBACK=stale on the local stack: with nginx stopped, the guarded proxy keeps answering
 * the cached page, marked stale, while the monitor logs the open circuit.
 */
import { startLocalStack, type LocalStack } from '../../support/local-stack';

jest.setTimeout(30_000);

let stack: LocalStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

it('serves the cached /catalog with Cache-Status while the circuit is open, and the usual 503 for what was never cached', async () => {
  stack = await startLocalStack({
    monitorEnv: { PROXY_FALLBACK: 'stale', PROBE_INTERVAL: '0.2', TIME_WINDOW: '5', ERROR_THRESHOLD: '3', REQUEST_TIMEOUT: '0.5' },
  });
  await stack.monitor.waitForLine(/ info probe ok: HTTP 200/, 10_000, 0);
  const fresh = await fetch(`${stack.proxyUrl}/catalog`);
  expect(fresh.status).toBe(200);
  const page = await fresh.text();
  expect(fresh.headers.get('cache-status')).toBeNull();

  const before = stack.monitor.lines.length;
  await stack.nginx.stop();
  await stack.monitor.waitForLine(/ warn Circuit changed from closed to open /, 10_000, before);

  const stale = await fetch(`${stack.proxyUrl}/catalog`);
  expect(stale.status).toBe(200);
  expect(await stale.text()).toBe(page);
  expect(stale.headers.get('cache-status')).toBe('circuit-breaker-monitor; hit; detail="fallback: circuit open"');
  expect(Number(stale.headers.get('age'))).toBeGreaterThanOrEqual(0);

  const uncached = await fetch(`${stack.proxyUrl}/`);
  expect(uncached.status).toBe(503);
  expect(uncached.headers.get('retry-after')).not.toBeNull();

  const metrics = await (await fetch(`${stack.adminUrl}/metrics`)).text();
  expect(metrics).toMatch(/^circuit_breaker_calls_total\{route="default",source="proxy",outcome="fallback"\} 1$/m);
  expect(metrics).toMatch(/^circuit_breaker_fallback_cache_entries 1$/m);
});
