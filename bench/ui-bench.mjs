#!/usr/bin/env node
// Drives a running `dv ui` from Debian's Chromium (playwright-core) and prints, for a
// directory and a run: the API time of its first page and the time until the page
// shows them, measured inside the page from the route change to the rows being in the
// DOM (so no browser-driver round trips are counted); the API cold (first request
// after the server started) and warm; each line with its target and the reference
// command's time measured by bench/ui.sh. Usage: ui-bench.mjs UI_URL DIR_PATH RUN_ID REF_LS_S REF_RUN_S
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [url, dir, run, refLs = '?', refRun = '?'] = process.argv.slice(2);
const ms = (t0) => (performance.now() - t0).toFixed(0);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'dv-ui-bench-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.DV_CHROMIUM ?? '/usr/bin/chromium', headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
});
const page = ctx.pages()[0] ?? await ctx.newPage();
const api = async (route) => {
  const t0 = performance.now();
  const r = await page.evaluate(async (u) => { const x = await fetch(u); await x.text(); return x.status; }, `${url}api/${route}`);
  if (r !== 200) throw new Error(`${route}: HTTP ${r}`);
  return ms(t0);
};
// A light page to start from (the runs list), so each timed route change starts from the same place.
await page.goto(`${url}#/runs`);
await page.waitForSelector('[data-testid=runs]');
/** ms from setting the route (or scrolling the datum list to its end) until `selector` matches, timed by the page itself. */
const inPage = (hash, selector, scroll = false) => page.evaluate(([h, sel, sc]) => new Promise((resolve) => {
  const t0 = performance.now();
  if (h) location.hash = h;
  if (sc) { const e = document.querySelector('[data-testid=datums]'); e.scrollTop = e.scrollHeight; }
  const tick = () => (document.querySelector(sel) ? resolve((performance.now() - t0).toFixed(0)) : requestAnimationFrame(tick));
  tick();
}), [hash, selector, scroll]);

const treeRoute = `tree?ref=main&path=${encodeURIComponent(dir)}&limit=200`;
const coldTree = await api(treeRoute);
const warmTree = await api(treeRoute);
const pageTree = await inPage(`#/tree/main/${dir}`, '[data-testid=tree] tbody tr:nth-child(200)');
console.log(`ui: first page of a 100,000-file directory: page ${pageTree} ms (route change to 200 rows shown), API ${coldTree} ms cold, ${warmTree} ms warm vs reference dv ls main:${dir} --json (all 100,000 entries, a new process) ${refLs} s (target < 300 ms)`);

const coldRun = await api(`runs/${run}`);
const datums = await api(`runs/${run}/datums?stage=copy&limit=200`);
const warmRun = await api(`runs/${run}`);
await inPage('#/runs', '[data-testid=runs]');
const pageRun = await inPage(`#/run/${run}/copy`, '[data-testid=datums] .drow');
// Scroll to the last of the 10,000 rows: virtualised, so only a few dozen rows exist at any time.
const scroll = await inPage(null, `[data-testid=datums] .vrow[style*="top: ${9999 * 26}px"] .drow`, true);
const domRows = await page.$$eval('[data-testid=datums] .vrow', (r) => r.length);
console.log(`ui: a 10,000-datum run: API record ${coldRun} ms cold, ${warmRun} ms warm, first datum page ${datums} ms; page ${pageRun} ms to first rows; scroll to the last row ${scroll} ms (${domRows} rows in the DOM) vs reference dv runs show <run> --json ${refRun} s (target: no freeze, virtualised rows)`);
await ctx.close();
fs.rmSync(profile, { recursive: true, force: true });
