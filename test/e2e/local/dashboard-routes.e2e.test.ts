/**
 * The dashboard with a routes file, in a real browser (Debian's headless Chromium): a monitor
 * process with two routes whose upstreams are node:http servers on loopback. One card per route
 * with its state; stopping one upstream opens its card alone; clicking a card chooses the route
 * the panels show; the controls act on the chosen route only. A route with a concurrency limit
 * (MAX_CONCURRENT_CALLS) has a panel of its limit and calls in flight, filled by a hung upstream;
 * a route without one has no such panel. axe-core checks its accessibility.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'puppeteer-core';
import { haveChromium, launchChromium, type LaunchedBrowser } from '../../support/chromium';
import { axeViolations, DASHBOARD_TOKEN, dashboardPage, text } from '../../support/dashboard-page';
import { describeWithTool } from '../../support/needs-tool';
import { startRoutesStack, type RoutesStack } from '../../support/routes-stack';

jest.setTimeout(60_000);

const SHOTS = path.join(__dirname, 'last-run');

let stack: RoutesStack | undefined;
let chromium: LaunchedBrowser | undefined;
afterEach(async () => {
  await chromium?.close();
  await stack?.stop();
  chromium = undefined;
  stack = undefined;
});

/** Each card as `name state pressed`, in order. */
const cards = (page: Page): Promise<string[]> =>
  page.evaluate(`[...document.querySelectorAll('button.route')].map((b) => b.dataset.route + ' ' + b.dataset.state + ' ' + b.getAttribute('aria-pressed'))`) as Promise<string[]>;
const routeStates = async (adminUrl: string): Promise<string[]> =>
  ((await (await fetch(`${adminUrl}/status`)).json()) as { routes: { name: string; state: string }[] }).routes.map((route) => `${route.name} ${route.state}`);

describeWithTool('chromium', haveChromium(), 'no /usr/bin/chromium: run npm run setup:test (Debian package chromium)', 'the dashboard with several routes', () => {
  it('a card per route; one upstream stopped opens its card alone; a click chooses the panels; control acts on the chosen route', async () => {
    mkdirSync(SHOTS, { recursive: true });
    stack = await startRoutesStack({ PROBE_INTERVAL: '0.25', TIME_WINDOW: '20', ERROR_THRESHOLD: '3', REQUEST_TIMEOUT: '1', ADMIN_TOKEN: DASHBOARD_TOKEN });
    const current = stack;
    await current.monitor.waitForLine(/\[reviews\] probe ok: HTTP 200/, 10_000, 0);
    chromium = await launchChromium();
    const { page, errors } = await dashboardPage(chromium.browser);

    // 1. two cards, both closed, the first chosen; the panels are the first route's
    await page.goto(`${current.adminUrl}/`, { waitUntil: 'load' });
    await page.waitForFunction(`document.getElementById('connection').dataset.connection === 'live' && document.querySelectorAll('button.route').length === 2`, { timeout: 5_000 });
    expect(await cards(page)).toEqual(['catalog closed true', 'reviews closed false']);
    expect(await text(page, '#route-name')).toBe('route catalog (/api/catalog/)');
    expect(await text(page, 'button.route[data-route="reviews"]')).toMatch(/^reviews\/api\/reviews\/closedfor [\d.]+ s$/);
    // no concurrency limit: no panel for it (once the charts, which decide, are drawn)
    await page.waitForFunction(`document.getElementById('timeline').childElementCount > 0`, { timeout: 5_000 });
    expect(await page.$eval('#limit-card', (element) => element.hasAttribute('hidden'))).toBe(true);

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
    await page.type('#token', DASHBOARD_TOKEN);
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

describeWithTool('chromium', haveChromium(), 'no /usr/bin/chromium: run npm run setup:test (Debian package chromium)', 'the concurrency limit on the dashboard', () => {
  it('MAX_CONCURRENT_CALLS=4 and a hung upstream: the panel shows the limit 4 and 4 calls in flight, overloaded answers have their colour; the route with the limit off has no panel', async () => {
    mkdirSync(SHOTS, { recursive: true });
    // REQUEST_TIMEOUT long: the hung calls hold their slots for the whole test
    stack = await startRoutesStack({ PROBE_INTERVAL: '0.5', TIME_WINDOW: '20', ERROR_THRESHOLD: '3', REQUEST_TIMEOUT: '30', MAX_CONCURRENT_CALLS: '4' }, { reviews: { maxConcurrentCalls: 'off', errorThreshold: 5 } });
    const current = stack;
    await current.monitor.waitForLine(/\[reviews\] probe ok: HTTP 200/, 10_000, 0);
    const upstreams = Object.fromEntries(
      ((await (await fetch(`${current.adminUrl}/status`)).json()) as { routes: { name: string; upstream: string }[] }).routes.map((route) => [route.name, route.upstream]),
    );
    chromium = await launchChromium();
    const { page, errors } = await dashboardPage(chromium.browser);
    await page.goto(`${current.adminUrl}/`, { waitUntil: 'load' });
    await page.waitForFunction(`document.getElementById('connection').dataset.connection === 'live' && document.querySelectorAll('button.route').length === 2`, { timeout: 5_000 });

    // catalog (chosen): its panel, its mode in words, nothing in flight; the header names its upstream
    await page.waitForFunction(`!document.getElementById('limit-card').hidden`, { timeout: 5_000 });
    expect(await text(page, '#limit-mode')).toBe('fixed limit: 4 calls at once');
    expect(await text(page, '#upstream')).toBe(upstreams.catalog);
    // the counters count against the route's own thresholds
    expect(await text(page, '#counters')).toContain('consecutive failures0 of 3');

    // the upstream hangs under 8 concurrent calls: 4 take the slots, 4 are answered overloaded at once
    current.hangUpstream('catalog');
    const abort = new AbortController();
    const answers: string[] = [];
    const calls = Array.from({ length: 8 }, (_, i) =>
      fetch(`${current.proxyUrl}/api/catalog/hang/${i}`, { signal: abort.signal }).then(
        async (reply) => void answers.push(`${reply.status} ${((await reply.json()) as { error?: string }).error}`),
        () => undefined,
      ),
    );
    try {
      const deadline = Date.now() + 5_000;
      while (answers.length < 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(answers).toEqual(Array.from({ length: 4 }, () => '503 overloaded'));
      expect(current.held('catalog')).toBeGreaterThanOrEqual(4);
      await page.waitForFunction(`document.getElementById('limit-summary').textContent.startsWith('4 in flight now')`, { timeout: 5_000 });
      expect(await text(page, '#limit-summary')).toBe('4 in flight now (the limit is full: more calls are answered 503 overloaded); at most 4 in the last 1 minute.');
      expect(await page.$eval('#limit', (element) => element.getAttribute('aria-label'))).toBe(
        'Calls in flight and the fixed limit: 4 calls at once: 4 in flight now (the limit is full: more calls are answered 503 overloaded); at most 4 in the last 1 minute.',
      );
      // the bars at the limit are striped, and their top is the limit's line (the chart is redrawn
      // on its own tick, which may come after the summary's text: waited for, not assumed)
      await page.waitForFunction(`document.querySelectorAll('#limit rect.in-flight.full').length > 0`, { timeout: 5_000 });
      const drawn = (await page.evaluate(`(() => {
        const full = [...document.querySelectorAll('#limit rect.in-flight.full')];
        const line = document.querySelector('#limit path.limit-line');
        const last = full[full.length - 1];
        return { full: full.length, top: last && Number(last.getAttribute('y')), lineEnd: line && Number(line.getAttribute('d').trim().split(',').pop()) };
      })()`)) as { full: number; top: number; lineEnd: number };
      expect(drawn.full).toBeGreaterThan(0);
      expect(drawn.top).toBeCloseTo(drawn.lineEnd, 0);
      const status = (await (await fetch(`${current.adminUrl}/status`)).json()) as { routes: { name: string; concurrency: unknown }[] };
      expect(status.routes.map((route) => [route.name, route.concurrency])).toEqual([
        ['catalog', { mode: 'fixed', limit: 4, inFlight: 4 }],
        ['reviews', null],
      ]);
      // the overloaded answers: a row of the table, a bar and a legend entry of their own colour
      await page.waitForFunction(`document.getElementById('rate-legend').textContent.includes('overloaded')`, { timeout: 5_000 });
      // its own colour: not the dark grey of an outcome the page does not know
      const colours = (await page.evaluate(`(() => ({
        swatch: getComputedStyle(document.querySelector('#rate-legend .swatch.o-overloaded')).backgroundColor,
        bar: getComputedStyle(document.querySelector('#rate rect.o-overloaded')).fill,
      }))()`)) as { swatch: string; bar: string };
      expect(colours).toEqual({ swatch: 'rgb(191, 57, 137)', bar: 'rgb(191, 57, 137)' });
      expect(await text(page, '#calls')).toMatch(/overloaded0?4/);
      expect(await axeViolations(page)).toEqual([]);
      await page.screenshot({ path: path.join(SHOTS, 'dashboard-limit.png') });

      // reviews (the limit off): no panel; the header and counters are its own
      await page.click('button.route[data-route="reviews"]');
      expect(await page.$eval('#limit-card', (element) => element.hasAttribute('hidden'))).toBe(true);
      expect(await text(page, '#upstream')).toBe(upstreams.reviews);
      expect(await text(page, '#counters')).toContain('consecutive failures0 of 5');
      expect(errors).toEqual([]);
    } finally {
      abort.abort();
      current.answerUpstream('catalog');
      await Promise.all(calls);
    }
  });
});
