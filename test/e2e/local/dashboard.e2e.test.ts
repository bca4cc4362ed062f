/**
 * The live dashboard in a real browser (Debian's headless Chromium, driven by puppeteer-core) on
 * the local stack: real nginx, upstream and monitor processes on loopback. The page is checked the
 * way a person uses it: it loads from the monitor alone, shows the state as nginx stops and starts,
 * follows the monitor through a restart, and isolates and resets with the admin token. axe-core
 * checks its accessibility. Screenshots land in test/e2e/local/last-run/ (git-ignored).
 */
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { HTTPRequest, Page } from 'puppeteer-core';
import { haveChromium, launchChromium, type LaunchedBrowser } from '../../support/chromium';
import { axeViolations, DASHBOARD_TOKEN, dashboardPage, text } from '../../support/dashboard-page';
import { lineTime, startLocalStack, type LocalStack } from '../../support/local-stack';
import { describeWithTool } from '../../support/needs-tool';

jest.setTimeout(90_000);

const SHOTS = path.join(__dirname, 'last-run');

let stack: LocalStack | undefined;
let chromium: LaunchedBrowser | undefined;
afterEach(async () => {
  await chromium?.close();
  await stack?.stop();
  chromium = undefined;
  stack = undefined;
});

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

describeWithTool('chromium', haveChromium(), 'no /usr/bin/chromium: run npm run setup:test (Debian package chromium)', 'the dashboard in a real browser', () => {
  it('loads from the monitor alone, follows nginx stopped and started, reconnects after a monitor restart, and isolates and resets with the token', async () => {
    mkdirSync(SHOTS, { recursive: true });
    stack = await startLocalStack({
      monitorEnv: { PROBE_INTERVAL: '0.25', TIME_WINDOW: '3', ERROR_THRESHOLD: '3', SUCCESS_THRESHOLD: '3', REQUEST_TIMEOUT: '0.5', ADMIN_TOKEN: DASHBOARD_TOKEN },
    });
    const current = stack;
    await current.monitor.waitForLine(/ info probe ok: HTTP 200/, 10_000, 0);
    chromium = await launchChromium();
    const { page, errors } = await dashboardPage(chromium.browser);
    const origin = new URL(current.adminUrl).origin;
    const requests: string[] = [];
    page.on('request', (request: HTTPRequest) => requests.push(request.url()));

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

    // 2. nginx stops: the page shows open, pushed on the stream it holds, and the countdown runs
    await recordChanges(page);
    const beforeStop = current.monitor.lines.length;
    const requestsBeforeStop = requests.length;
    await current.nginx.stop();
    const openLine = await current.monitor.waitForLine(/ warn Circuit changed from closed to open /, 10_000, beforeStop);
    await page.waitForFunction(`document.getElementById('state-card').dataset.state === 'open'`, { polling: 'mutation', timeout: 5_000 });
    // no request of its own: the transition came over the open /events stream, not from polling
    expect(requests.slice(requestsBeforeStop)).toEqual([]);
    const shownAt = (await seenWithTimes(page)).find((change) => change.entry.startsWith('open/'))!.at;
    // how soon is measured, not asserted (the stream's next-turn sending is events.test.ts's)
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
    // the page had shown open while it was so: before the first window ended
    const windowEndLine = await current.monitor.waitForLine(/ info Circuit changed from open to half_open /, 10_000, beforeStop);
    expect(shownAt).toBeLessThan(lineTime(windowEndLine));
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

    // 5. isolate and reset through the page: the token is asked for once, kept in the page's memory
    expect(await page.$eval('#token-form', (element) => (element as unknown as { hidden: boolean }).hidden)).toBe(false);
    await page.type('#token', DASHBOARD_TOKEN);
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
    // in memory only: nothing a later script on this origin could read
    expect(await page.evaluate(`[sessionStorage.length, localStorage.length, document.cookie]`)).toEqual([0, 0, '']);
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

  it('works on localhost and on 127.0.0.1; a page of another origin cannot read /status, and a rebinding name gets 421', async () => {
    mkdirSync(SHOTS, { recursive: true });
    stack = await startLocalStack({ monitorEnv: { PROBE_INTERVAL: '0.25', ADMIN_TOKEN: DASHBOARD_TOKEN } });
    const current = stack;
    await current.monitor.waitForLine(/ info probe ok: HTTP 200/, 10_000, 0);
    const adminPort = new URL(current.adminUrl).port;
    // an attacker's name that resolves to this machine, as a rebinding DNS server would make it
    chromium = await launchChromium(['--host-resolver-rules=MAP rebind.test 127.0.0.1']);
    const { page, errors } = await dashboardPage(chromium.browser);

    // 1. the page under both names: live, and isolate and reset pass the Origin check
    for (const origin of [`http://localhost:${adminPort}`, `http://127.0.0.1:${adminPort}`]) {
      await page.goto(`${origin}/`, { waitUntil: 'load' });
      await page.waitForFunction(`document.getElementById('state-card').dataset.state === 'closed' && document.getElementById('connection').dataset.connection === 'live'`, { timeout: 5_000 });
      if (origin.includes('localhost')) await page.screenshot({ path: path.join(SHOTS, 'dashboard-localhost.png'), fullPage: true });
      await page.type('#token', DASHBOARD_TOKEN);
      await page.click('#token-form button[type="submit"]');
      await page.waitForSelector('#control-buttons:not([hidden])');
      const before = current.monitor.lines.length;
      await page.click('#isolate');
      await page.waitForFunction(`document.getElementById('state-card').dataset.state === 'isolated'`, { polling: 'mutation', timeout: 2_000 });
      await page.click('#reset');
      await page.waitForFunction(`document.getElementById('state-card').dataset.state === 'closed'`, { polling: 'mutation', timeout: 2_000 });
      await current.monitor.waitForLine(/ info admin control: reset from [\d.:a-f]+: circuit isolated -> closed$/, 2_000, before);
    }
    expect(errors).toEqual([]);

    // 2. a page of another origin (another port of this machine): reading /status or /events fails,
    // a control call with the token never leaves the browser (its preflight gets no CORS header),
    // and one without (a plain form-like POST) is refused for its Origin
    const other = http.createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<!doctype html><title>another site</title><p>hello'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const otherOrigin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
      await page.goto(`${otherOrigin}/`, { waitUntil: 'load' });
      const before = current.monitor.lines.length;
      const tried = (await page.evaluate(`(async () => {
        const attempt = (promise) => promise.then((r) => 'read: HTTP ' + r.status, (e) => 'failed: ' + e.name);
        const events = await new Promise((resolve) => {
          const source = new EventSource(${JSON.stringify(`${current.adminUrl}/events`)});
          source.onopen = () => resolve('open');
          source.onerror = () => { source.close(); resolve('failed'); };
        });
        return {
          status: await attempt(fetch(${JSON.stringify(`${current.adminUrl}/status`)})),
          statusOnLocalhost: await attempt(fetch(${JSON.stringify(`http://localhost:${adminPort}/status`)})),
          events,
          isolateWithToken: await attempt(fetch(${JSON.stringify(`${current.adminUrl}/breaker/isolate`)}, { method: 'POST', headers: { Authorization: 'Bearer ${DASHBOARD_TOKEN}' } })),
          isolateNoCors: await attempt(fetch(${JSON.stringify(`${current.adminUrl}/breaker/isolate`)}, { method: 'POST', mode: 'no-cors' })).then((text) => text.replace('HTTP 0', 'opaque')),
        };
      })()`)) as Record<string, string>;
      expect(tried).toEqual({ status: 'failed: TypeError', statusOnLocalhost: 'failed: TypeError', events: 'failed', isolateWithToken: 'failed: TypeError', isolateNoCors: 'read: opaque' });
      await current.monitor.waitForLine(new RegExp(` warn admin control refused: isolate from 127\\.0\\.0\\.1: cross-origin call refused: Origin "${otherOrigin.replace(/\./g, '\\.')}" is not this monitor's`), 2_000, before);
      expect(current.monitor.lines.slice(before).filter((line) => / info admin control: isolate /.test(line))).toEqual([]);
      expect(((await (await fetch(`${current.adminUrl}/status`)).json()) as { state: string }).state).toBe('closed');
    } finally {
      // the browser keeps its connection open: close() alone would wait for it
      other.closeAllConnections();
      await new Promise((resolve) => other.close(resolve));
    }

    // 3. a page on the rebinding name, once it points at this machine: the same origin as the admin
    // port, so the browser would let it read everything; the monitor answers 421 and nothing else
    const before = current.monitor.lines.length;
    const refused = await page.goto(`http://rebind.test:${adminPort}/`, { waitUntil: 'load' });
    expect(refused?.status()).toBe(421);
    const read = (await page.evaluate(`Promise.all(['/status', '/events', '/metrics', '/healthz'].map((path) => fetch(path).then(async (r) => path + ' ' + r.status + ' ' + (await r.text()).slice(0, 40))))`)) as string[];
    expect(read).toEqual(['/status', '/events', '/metrics', '/healthz'].map((route) => `${route} 421 421 Misdirected Request: this admin port`));
    await current.monitor.waitForLine(new RegExp(` warn admin request refused \\(421\\) from 127\\.0\\.0\\.1: Host "rebind\\.test:${adminPort}" is not an IP address`), 2_000, before);
  });
});
