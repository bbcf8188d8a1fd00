#!/usr/bin/env node
// Drives a running `dv ui` from Debian's Chromium (playwright-core) and prints, for a
// directory and a run: the API time of its first page and the time until the page
// shows its first rows (navigation to rendered rows), cold (first request after the
// server started) and warm. Usage: ui-bench.mjs UI_URL DIR_PATH RUN_ID
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [url, dir, run] = process.argv.slice(2);
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
await page.goto(`${url}#/metrics`);
await page.waitForSelector('[data-testid=metrics-placeholder]');

const treeRoute = `tree?ref=main&path=${encodeURIComponent(dir)}&limit=200`;
const coldTree = await api(treeRoute);
const warmTree = await api(treeRoute);
let t0 = performance.now();
await page.goto(`${url}#/tree/main/${dir}`);
await page.waitForSelector('[data-testid=tree] tbody tr:nth-child(200)');
const pageTree = ms(t0);
console.log(`ui: first page of a 100,000-file directory: API ${coldTree} ms cold, ${warmTree} ms warm; page ${pageTree} ms`);

const coldRun = await api(`runs/${run}`);
const datums = await api(`runs/${run}/datums?stage=copy&limit=200`);
const warmRun = await api(`runs/${run}`);
t0 = performance.now();
await page.goto(`${url}#/run/${run}/copy`);
await page.waitForSelector('[data-testid=datums] .drow');
const pageRun = ms(t0);
// Scroll to the last of the 10,000 rows: virtualised, so only a few dozen rows exist at any time.
t0 = performance.now();
await page.$eval('[data-testid=datums]', (e) => { e.scrollTop = e.scrollHeight; });
await page.waitForSelector(`[data-testid=datums] .vrow[style*="top: ${9999 * 26}px"] .drow`);
const scroll = ms(t0);
const domRows = await page.$$eval('[data-testid=datums] .vrow', (r) => r.length);
console.log(`ui: a 10,000-datum run: API record ${coldRun} ms cold, ${warmRun} ms warm, first datum page ${datums} ms; page ${pageRun} ms to first rows; scroll to the last row ${scroll} ms (${domRows} rows in the DOM)`);
await ctx.close();
fs.rmSync(profile, { recursive: true, force: true });
