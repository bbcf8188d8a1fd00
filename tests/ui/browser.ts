// Debian's Chromium driven by playwright-core (no browser download): headless, no
// sandbox (CI runs as root), no network beyond loopback, a fresh profile per run.
// Screenshots go to tests/ui/.screenshots (git-ignored).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from '../helpers/cli.js';

export const CHROMIUM = process.env.DV_CHROMIUM ?? '/usr/bin/chromium';
export const SHOTS = path.join(REPO_ROOT, 'tests', 'ui', '.screenshots');

export interface Browser {
  context: BrowserContext;
  page: Page;
  shot(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function openBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'dv-ui-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1360, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run',
      '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? await context.newPage();
  fs.mkdirSync(SHOTS, { recursive: true });
  return {
    context, page,
    shot: async (name) => { await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true }); },
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
