/**
 * The live dashboard in a real browser (Debian's headless Chromium, driven by puppeteer-core) on
 * the local stack: real nginx, upstream and monitor processes on loopback. The page is checked the
 * way a person uses it: it loads from the monitor alone, shows the state as nginx stops and starts,
 * follows the monitor through a restart, and isolates and resets with the admin token. axe-core
 * checks its accessibility. Screenshots land in test/e2e/local/last-run/ (git-ignored).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ConsoleMessage, HTTPRequest, Page } from 'puppeteer-core';
import { haveChromium, launchChromium, type LaunchedBrowser } from '../../support/chromium';
import { lineTime, startLocalStack, type LocalStack } from '../../support/local-stack';
import { describeWithTool } from '../../support/needs-tool';

jest.setTimeout(90_000);

const TOKEN = 'e2e-dashboard-token-0123456789';
const SHOTS = path.join(__dirname, 'last-run');
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

let stack: LocalStack | undefined;
let chromium: LaunchedBrowser | undefined;
afterEach(async () => {
  await chromium?.close();
  await stack?.stop();
  chromium = undefined;
  stack = undefined;
});

/** What the page says, read from the DOM (strings: the test has no DOM types). */
const text = (page: Page, selector: string): Promise<string> => page.$eval(selector, (element) => element.textContent ?? '');
const stateOf = (page: Page): Promise<string | undefined> => page.$eval('#state-card', (element) => (element as unknown as { dataset: Record<string, string> }).dataset.state);

/** Records every state and connection the page shows, in order, with the time, from now on. */
async function recordChanges(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    window.seen = [];
    const card = document.getElementById('state-card');
    const connection = document.getElementById('connection');
    const note = () => {
      const entry = card.dataset.state + '/' + connection.dataset.connection;
      if (window.seen[window.seen.length - 1]?.entry !== entry) window.seen.push({ entry, at: Date.now() });
    };
    note();
    new MutationObserver(note).observe(card, { attributes: true });
    new MutationObserver(note).observe(connection, { attributes: true });
  })()`);
}
const seenWithTimes = (page: Page): Promise<{ entry: string; at: number }[]> => page.evaluate('window.seen') as Promise<{ entry: string; at: number }[]>;
const seen = async (page: Page): Promise<string[]> => (await seenWithTimes(page)).map((change) => change.entry);

async function axeViolations(page: Page): Promise<string[]> {
  // injected through the DevTools protocol: the page's own policy allows no inline script
  await page.evaluate(AXE);
  const result = (await page.evaluate('axe.run(document, { resultTypes: ["violations"] })')) as {
    violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[];
  };
  return result.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.impact} ${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(' ')).join(', ')})`);
}

describeWithTool('chromium', haveChromium(), 'no /usr/bin/chromium: run npm run setup:test (Debian package chromium)', 'the dashboard in a real browser', () => {
  it('loads from the monitor alone, follows nginx stopped and started, reconnects after a monitor restart, and isolates and resets with the token', async () => {
    mkdirSync(SHOTS, { recursive: true });
    stack = await startLocalStack({
      monitorEnv: { PROBE_INTERVAL: '0.25', TIME_WINDOW: '3', ERROR_THRESHOLD: '3', SUCCESS_THRESHOLD: '3', REQUEST_TIMEOUT: '0.5', ADMIN_TOKEN: TOKEN },
    });
    const current = stack;
    await current.monitor.waitForLine(/ info probe ok: HTTP 200/, 10_000, 0);
    chromium = await launchChromium();
    const page = await chromium.browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const origin = new URL(current.adminUrl).origin;
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (request: HTTPRequest) => requests.push(request.url()));
    page.on('console', (message: ConsoleMessage) => {
      if (message.type() === 'error') errors.push(`${message.text()} ${message.location().url ?? ''}`);
    });
    page.on('pageerror', (error: unknown) => errors.push(`page error: ${String(error)}`));

    // 1. it loads, from the monitor's origin only, and shows closed
    await page.goto(`${current.adminUrl}/`, { waitUntil: 'load' });
    await page.waitForFunction(`document.getElementById('state-card').dataset.state === 'closed' && document.getElementById('connection').dataset.connection === 'live'`, { timeout: 5_000 });
    expect(await text(page, '#state')).toBe('closed');
    expect(await text(page, '#upstream')).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // some proxied traffic for the chart, and time for the charts to draw
    for (let i = 0; i < 20; i += 1) await (await fetch(`${current.proxyUrl}/`)).text();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: path.join(SHOTS, 'dashboard-closed.png') });
    expect(errors).toEqual([]);

    // 2. nginx stops: the page shows open within 1 s of the monitor's line, and the countdown runs
    await recordChanges(page);
    const beforeStop = current.monitor.lines.length;
    await current.nginx.stop();
    const openLine = await current.monitor.waitForLine(/ warn Circuit changed from closed to open /, 10_000, beforeStop);
    await page.waitForFunction(`document.getElementById('state-card').dataset.state === 'open'`, { polling: 'mutation', timeout: 2_000 });
    expect(Date.now() - lineTime(openLine)).toBeLessThan(1_000);
    const shownAt = (await seenWithTimes(page)).find((change) => change.entry.startsWith('open/'))!.at;
    process.stdout.write(`dashboard e2e: the page showed open ${shownAt - lineTime(openLine)} ms after the monitor's transition line\n`);
    expect(await text(page, '#state')).toBe('open');
    const countdown = async (): Promise<number> => Number(/trial in ([\d.]+) s/.exec(await text(page, '#countdown'))?.[1]);
    const first = await countdown();
    await new Promise((resolve) => setTimeout(resolve, 600));
    const second = await countdown();
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThanOrEqual(3);
    expect(second).toBeLessThan(first);
    // clients of the guarded proxy get 503 at once: the chart shows them
    for (let i = 0; i < 30; i += 1) await (await fetch(`${current.proxyUrl}/`)).text();
    // the next per-second count reaches the chart
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    await page.screenshot({ path: path.join(SHOTS, 'dashboard-open.png') });
    expect(await axeViolations(page)).toEqual([]);

    // 3. nginx starts: half_open at the window's end, then closed after the trials
    await current.nginx.start();
    await current.monitor.waitForLine(/ info Circuit changed from half_open to closed /, 10_000, beforeStop);
    await page.waitForFunction(`document.getElementById('state-card').dataset.state === 'closed'`, { polling: 'mutation', timeout: 2_000 });
    const states = (await seen(page)).map((entry) => entry.split('/')[0]);
    expect(states.filter((state, i) => state !== states[i - 1])).toEqual(expect.arrayContaining(['open', 'half_open', 'closed']));
    expect(states.indexOf('half_open')).toBeGreaterThan(states.indexOf('open'));
    expect(states.lastIndexOf('closed')).toBeGreaterThan(states.indexOf('half_open'));
    expect(await text(page, '#feed')).toContain('Circuit changed from half_open to closed (3 consecutive trial successes)');
    expect(errors).toEqual([]);

    // 4. the monitor restarts under the page: it says so, then reconnects by itself
    await recordChanges(page);
    const restartedAt = Date.now();
    const monitor = await current.restartMonitor();
    await monitor.waitForLine(/ info probe ok: HTTP 200/, 10_000, 0);
    await page.waitForFunction(`document.getElementById('connection').dataset.connection === 'live' && document.getElementById('feed').textContent.includes('reconnected to the monitor')`, {
      polling: 'mutation',
      timeout: 10_000,
    });
    expect((await seen(page)).some((entry) => entry.endsWith('/reconnecting'))).toBe(true);
    expect(await stateOf(page)).toBe('closed');
    // the state's start is the new process's
    const since = Date.parse((await page.$eval('#since', (element) => element.getAttribute('datetime'))) ?? '');
    expect(since).toBeGreaterThanOrEqual(restartedAt - 1_000);

    // 5. isolate and reset through the page: the token is asked for once, kept for the tab
    expect(await page.$eval('#token-form', (element) => (element as unknown as { hidden: boolean }).hidden)).toBe(false);
    await page.type('#token', TOKEN);
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('#control-buttons:not([hidden])');
    const beforeControl = monitor.lines.length;
    await page.click('#isolate');
    await page.waitForFunction(`document.getElementById('state-card').dataset.state === 'isolated'`, { polling: 'mutation', timeout: 2_000 });
    await monitor.waitForLine(/ info admin control: isolate from 127\.0\.0\.1: circuit closed -> isolated$/, 2_000, beforeControl);
    expect(await text(page, '#state')).toBe('isolated');
    await page.click('#reset');
    await page.waitForFunction(`document.getElementById('state-card').dataset.state === 'closed'`, { polling: 'mutation', timeout: 2_000 });
    await monitor.waitForLine(/ info admin control: reset from 127\.0\.0\.1: circuit isolated -> closed$/, 2_000, beforeControl);
    await monitor.waitForLine(/ info Circuit changed from isolated to closed \(manual: reset\)$/, 2_000, beforeControl);
    expect(await page.evaluate(`sessionStorage.getItem('circuit-breaker-admin-token')`)).toBe(TOKEN);
    expect(await axeViolations(page)).toEqual([]);

    // a wrong token: refused, forgotten, asked for again
    await page.click('#forget');
    await page.type('#token', 'not-the-right-token-at-all');
    await page.click('#token-form button[type="submit"]');
    await page.click('#isolate');
    await page.waitForFunction(`document.getElementById('control-result').textContent.includes('refused the token')`, { timeout: 2_000 });
    expect(await page.$eval('#token-form', (element) => (element as unknown as { hidden: boolean }).hidden)).toBe(false);
    expect(await stateOf(page)).toBe('closed');

    // nothing but the monitor's origin, ever; errors only from the restart's refused connections and the 401
    expect(requests.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    expect(errors.filter((error) => !/ERR_CONNECTION_REFUSED|status of 401/.test(error))).toEqual([]);
  });
});
