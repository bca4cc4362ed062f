/**
 * Takes docs/dashboard-limit.png: a monitor on loopback with a routes file of two routes whose
 * upstreams are two local node:http servers, `MAX_CONCURRENT_CALLS=4`. A few clients call
 * `catalog` the whole time; its upstream then hangs: 4 calls hold the limit's slots, the others
 * are answered 503 `overloaded` at once. The dashboard in headless Chromium, `catalog` chosen,
 * some seconds into the hang. Run: `npm run screenshot:limit` (needs /usr/bin/chromium: npm run setup:test).
 */
import path from 'node:path';
import { launchChromium } from '../test/support/chromium';
import { startRoutesStack } from '../test/support/routes-stack';

const OUT = path.resolve(__dirname, '../docs/dashboard-limit.png');
const CLIENTS = 6;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  // REQUEST_TIMEOUT 30 s: the hung calls (and the probes) hold on for the whole picture
  const stack = await startRoutesStack({ PROBE_INTERVAL: '0.5', TIME_WINDOW: '30', ERROR_THRESHOLD: '3', REQUEST_TIMEOUT: '30', MAX_CONCURRENT_CALLS: '4' }, { reviews: { maxConcurrentCalls: 'off' } });
  const chromium = await launchChromium();
  let traffic = true;
  const load = Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (traffic) {
        await fetch(`${stack.proxyUrl}/api/catalog/items`).then((r) => r.text(), () => '');
        await sleep(50);
      }
    }),
  );
  try {
    await stack.monitor.waitForLine(/\[catalog\] probe ok: HTTP 200/, 10_000, 0);
    const page = await chromium.browser.newPage();
    await page.setViewport({ width: 1280, height: 1400 });
    await page.goto(`${stack.adminUrl}/`, { waitUntil: 'load' });
    await sleep(15_000);
    stack.hangUpstream('catalog');
    await page.waitForFunction(`document.getElementById('limit-summary')?.textContent.startsWith('4 in flight')`, { timeout: 10_000 });
    // the overloaded answers fill the rate chart, the full limit a stretch of the panel
    await sleep(12_000);
    await page.screenshot({ path: OUT });
    process.stdout.write(`wrote ${OUT}\n`);
  } finally {
    traffic = false;
    // the held calls get their answer, so every client ends
    stack.answerUpstream('catalog');
    await load;
    await chromium.close();
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exitCode = 1;
});
