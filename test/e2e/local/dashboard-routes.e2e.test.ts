/**
 * The dashboard with a routes file, in a real browser (Debian's headless Chromium): a monitor
 * process with two routes whose upstreams are node:http servers on loopback. One card per route
 * with its state; stopping one upstream opens its card alone; clicking a card chooses the route
 * the panels show; the controls act on the chosen route only. axe-core checks its accessibility.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ConsoleMessage, Page } from 'puppeteer-core';
import { haveChromium, launchChromium, type LaunchedBrowser } from '../../support/chromium';
import { describeWithTool } from '../../support/needs-tool';
import { startRoutesStack, type RoutesStack } from '../../support/routes-stack';

jest.setTimeout(60_000);

const TOKEN = 'e2e-dashboard-token-0123456789';
const SHOTS = path.join(__dirname, 'last-run');
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

let stack: RoutesStack | undefined;
let chromium: LaunchedBrowser | undefined;
afterEach(async () => {
  await chromium?.close();
  await stack?.stop();
  chromium = undefined;
  stack = undefined;
});

const text = (page: Page, selector: string): Promise<string> => page.$eval(selector, (element) => element.textContent ?? '');
/** Each card as `name state pressed`, in order. */
const cards = (page: Page): Promise<string[]> =>
  page.evaluate(`[...document.querySelectorAll('button.route')].map((b) => b.dataset.route + ' ' + b.dataset.state + ' ' + b.getAttribute('aria-pressed'))`) as Promise<string[]>;
const routeStates = async (adminUrl: string): Promise<string[]> =>
  ((await (await fetch(`${adminUrl}/status`)).json()) as { routes: { name: string; state: string }[] }).routes.map((route) => `${route.name} ${route.state}`);

async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  const result = (await page.evaluate('axe.run(document, { resultTypes: ["violations"] })')) as {
    violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[];
  };
  return result.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.impact} ${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(' ')).join(', ')})`);
}

describeWithTool('chromium', haveChromium(), 'no /usr/bin/chromium: run npm run setup:test (Debian package chromium)', 'the dashboard with several routes', () => {
  it('a card per route; one upstream stopped opens its card alone; a click chooses the panels; control acts on the chosen route', async () => {
    mkdirSync(SHOTS, { recursive: true });
    stack = await startRoutesStack({ PROBE_INTERVAL: '0.25', TIME_WINDOW: '20', ERROR_THRESHOLD: '3', REQUEST_TIMEOUT: '1', ADMIN_TOKEN: TOKEN });
    const current = stack;
    await current.monitor.waitForLine(/\[reviews\] probe ok: HTTP 200/, 10_000, 0);
    chromium = await launchChromium();
    const page = await chromium.browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const errors: string[] = [];
    page.on('console', (message: ConsoleMessage) => {
      if (message.type() === 'error') errors.push(`${message.text()} ${message.location().url ?? ''}`);
    });
    page.on('pageerror', (error: unknown) => errors.push(`page error: ${String(error)}`));

    // 1. two cards, both closed, the first chosen; the panels are the first route's
    await page.goto(`${current.adminUrl}/`, { waitUntil: 'load' });
    await page.waitForFunction(`document.getElementById('connection').dataset.connection === 'live' && document.querySelectorAll('button.route').length === 2`, { timeout: 5_000 });
    expect(await cards(page)).toEqual(['catalog closed true', 'reviews closed false']);
    expect(await text(page, '#route-name')).toBe('route catalog (/api/catalog/)');
    expect(await text(page, 'button.route[data-route="reviews"]')).toMatch(/^reviews\/api\/reviews\/closedfor [\d.]+ s$/);

    // 2. reviews' upstream stops: its card opens with a countdown, catalog's stays closed
    await current.stopUpstream('reviews');
    await page.waitForFunction(`document.querySelector('button.route[data-route="reviews"]').dataset.state === 'open'`, { polling: 'mutation', timeout: 10_000 });
    expect(await cards(page)).toEqual(['catalog closed true', 'reviews open false']);
    expect(await text(page, 'button.route[data-route="reviews"] .route-detail')).toMatch(/^trial in (1\d|20|\d)\.\d s$/);
    // the chosen route's panels still say closed
    expect(await page.$eval('#state-card', (element) => element.getAttribute('data-state'))).toBe('closed');
    for (let i = 0; i < 10; i += 1) await (await fetch(`${current.proxyUrl}/api/reviews/x`)).text();

    // 3. a click on reviews: the panels are its own
    await page.click('button.route[data-route="reviews"]');
    expect(await cards(page)).toEqual(['catalog closed false', 'reviews open true']);
    expect(await page.$eval('#state-card', (element) => element.getAttribute('data-state'))).toBe('open');
    expect(await text(page, '#route-name')).toBe('route reviews (/api/reviews/)');
    expect(await text(page, '#countdown')).toMatch(/^trial in [\d.]+ s$/);
    expect(await text(page, '#feed')).toContain('Circuit changed from closed to open (3 consecutive failures, last: ECONNREFUSED');
    expect(await text(page, '#config')).toContain('routereviews');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await page.$eval('#latency', (element) => element.getAttribute('aria-label'))).toMatch(/failed \(last: ECONNREFUSED/);
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: path.join(SHOTS, 'dashboard-routes.png') });

    // 4. control acts on the chosen route: isolate catalog, reviews untouched
    await page.click('button.route[data-route="catalog"]');
    await page.type('#token', TOKEN);
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('#control-buttons:not([hidden])');
    expect(await text(page, '#isolate')).toBe('Isolate catalog');
    const before = current.monitor.lines.length;
    await page.click('#isolate');
    await page.waitForFunction(`document.querySelector('button.route[data-route="catalog"]').dataset.state === 'isolated'`, { polling: 'mutation', timeout: 2_000 });
    await current.monitor.waitForLine(/ info \[catalog\] admin control: isolate from 127\.0\.0\.1: circuit closed -> isolated$/, 2_000, before);
    expect(await routeStates(current.adminUrl)).toEqual(['catalog isolated', 'reviews open']);
    await page.click('#reset');
    await page.waitForFunction(`document.querySelector('button.route[data-route="catalog"]').dataset.state === 'closed'`, { polling: 'mutation', timeout: 2_000 });
    expect(await routeStates(current.adminUrl)).toEqual(['catalog closed', 'reviews open']);
    expect(await axeViolations(page)).toEqual([]);
    expect(errors).toEqual([]);
  });
});
