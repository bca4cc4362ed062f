/**
 * Debian's headless Chromium (package `chromium`, installed by scripts/setup-test-deps.sh) driven
 * by puppeteer-core: no browser download, a fresh profile per launch, nothing in the background
 * that would talk to the network.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';

export const CHROMIUM = '/usr/bin/chromium';

export const haveChromium = (): boolean => existsSync(CHROMIUM);

export interface LaunchedBrowser {
  readonly browser: Browser;
  /** Closes the browser and deletes its profile. */
  close(): Promise<void>;
}

/** `args` are added to the usual ones, e.g. `--host-resolver-rules=MAP name 127.0.0.1`. */
export async function launchChromium(args: readonly string[] = []): Promise<LaunchedBrowser> {
  const profile = mkdtempSync(path.join(tmpdir(), 'cbdemo-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
      ...args,
    ],
  });
  return {
    browser,
    close: async () => {
      await browser.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
