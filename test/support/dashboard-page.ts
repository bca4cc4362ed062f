/**
 * What the dashboard's browser tests share: the token they control with, a page that records its
 * console errors, reading the DOM as text, and axe-core's serious findings.
 */
import { readFileSync } from 'node:fs';
import type { Browser, ConsoleMessage, Page } from 'puppeteer-core';

export const DASHBOARD_TOKEN = 'e2e-dashboard-token-0123456789';

const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** A 1280x900 page whose console errors and uncaught errors land in `errors`. */
export async function dashboardPage(browser: Browser): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const errors: string[] = [];
  page.on('console', (message: ConsoleMessage) => {
    if (message.type() === 'error') errors.push(`${message.text()} ${message.location().url ?? ''}`);
  });
  page.on('pageerror', (error: unknown) => errors.push(`page error: ${String(error)}`));
  return { page, errors };
}

/** What the page says, read from the DOM (strings: the tests have no DOM types). */
export const text = (page: Page, selector: string): Promise<string> => page.$eval(selector, (element) => element.textContent ?? '');

/** axe-core's serious and critical violations, one line each. */
export async function axeViolations(page: Page): Promise<string[]> {
  // injected through the DevTools protocol: the page's own policy allows no inline script
  await page.evaluate(AXE);
  const result = (await page.evaluate('axe.run(document, { resultTypes: ["violations"] })')) as {
    violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[];
  };
  return result.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.impact} ${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(' ')).join(', ')})`);
}
