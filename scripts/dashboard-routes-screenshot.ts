/**
 * Takes docs/dashboard-routes.png: a monitor on loopback with a routes file of two routes whose
 * upstreams are two local node:http servers; `reviews`'s is stopped, so its route opens while
 * `catalog` stays closed, with proxied traffic on both. The dashboard in headless Chromium, the
 * `reviews` card chosen. Run: `npm run screenshot:routes` (needs /usr/bin/chromium: npm run setup:test).
 */
import path from 'node:path';
import { launchChromium } from '../test/support/chromium';
import { startRoutesStack } from '../test/support/routes-stack';

const OUT = path.resolve(__dirname, '../docs/dashboard-routes.png');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const stack = await startRoutesStack({ PROBE_INTERVAL: '0.5', TIME_WINDOW: '30', ERROR_THRESHOLD: '3', REQUEST_TIMEOUT: '2', ADMIN_TOKEN: 'screenshot-token-0123456789' });
  const chromium = await launchChromium();
  let traffic = true;
  // a few clients' worth of traffic on both routes the whole time
  const load = (async () => {
    while (traffic) {
      await Promise.all(['catalog', 'reviews'].map((name) => fetch(`${stack.proxyUrl}/api/${name}/items`).then((r) => r.text(), () => '')));
      await sleep(100);
    }
  })();
  try {
    await stack.monitor.waitForLine(/\[reviews\] probe ok: HTTP 200/, 10_000, 0);
    const page = await chromium.browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    await page.goto(`${stack.adminUrl}/`, { waitUntil: 'load' });
    await sleep(12_000);
    await stack.stopUpstream('reviews');
    await stack.monitor.waitForLine(/\[reviews\] Circuit changed from closed to open/, 10_000);
    await page.waitForFunction(`document.querySelector('button.route[data-route="reviews"]')?.dataset.state === 'open'`, { timeout: 5_000 });
    await page.click('button.route[data-route="reviews"]');
    // the 503s reach the chart, the countdown runs a little
    await sleep(6_000);
    await page.screenshot({ path: OUT });
    process.stdout.write(`wrote ${OUT}\n`);
  } finally {
    traffic = false;
    await load;
    await chromium.close();
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exitCode = 1;
});
