// The console in a real browser (Debian's Chromium through playwright-core), as a user
// clicks through it: versions and files with previews (CSV, JSON, image, Parquet), a diff down to its rows, a run
// with a failed datum and its log, the stage DAG and a file's lineage; and the login
// of `dv serve --ui`. Each page is saved as a screenshot (tests/ui/.screenshots).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dvOk, TempDirs, writeFile } from '../helpers/cli.js';
import { openBrowser, type Browser } from './browser.js';
import { makeProject, startUi, type RunningUi, type UiProject } from './project.js';

const dirs = new TempDirs();
let proj: UiProject;
let ui: RunningUi;
let b: Browser;

beforeAll(async () => {
  proj = await makeProject(dirs.make('dv-ui-e2e-'));
  ui = await startUi(proj.root, ['ui']);
  b = await openBrowser();
}, 120_000);

afterAll(async () => {
  await b?.close();
  await ui?.stop();
  dirs.cleanup();
});

describe('the console in Chromium', () => {
  it('shows branches, tags and the history with its graph', async () => {
    const { page } = b;
    await page.goto(ui.url);
    await expect.poll(() => page.getByTestId('branches').innerText()).toContain('main');
    expect(await page.getByTestId('branches').innerText()).toContain('dev');
    expect(await page.getByTestId('tags').innerText()).toContain('v1');
    const history = page.getByTestId('history');
    await expect.poll(() => history.innerText()).toContain('raw readings');
    expect(await history.innerText()).toContain('fix day 2, add day 4');
    expect(await page.locator('[data-testid=commit-graph] g.node').count()).toBe(3);
    expect(await page.locator('[data-testid=commit-graph] path.edge').count()).toBe(2);
    await b.shot('versions');
  });

  it('browses files at a ref and previews CSV, JSON, an image and Parquet', async () => {
    const { page } = b;
    await page.getByTestId('branches').getByRole('link', { name: 'files' }).last().click();
    await page.getByRole('link', { name: /data\/$/ }).click();
    const tree = page.getByTestId('tree');
    await expect.poll(() => tree.innerText()).toContain('info.json');
    expect(await tree.innerText()).toMatch(/notes\.txt\s+30 B/);
    await b.shot('tree');
    await page.getByRole('link', { name: /raw\/$/ }).click();
    await page.getByRole('link', { name: '2024-01-02.csv' }).click();
    const csv = page.getByTestId('csv-preview');
    await expect.poll(() => csv.innerText()).toContain('oslo');
    expect(await csv.locator('tbody tr').count()).toBe(2);
    expect(await page.getByTestId('file-facts').innerText()).toMatch(/s3:\/\/dv-ui-e2e-\w+\/main\/data\/raw\/2024-01-02\.csv/);
    await b.shot('file-csv');
    await page.getByTestId('crumbs').getByRole('link', { name: 'data' }).click();
    await page.getByRole('link', { name: 'info.json' }).click();
    await expect.poll(() => page.getByTestId('text-preview').innerText()).toContain('"source": "station feed"');
    await page.getByTestId('crumbs').getByRole('link', { name: 'data' }).click();
    await page.getByRole('link', { name: 'pixel.png' }).click();
    const img = page.getByTestId('image-preview');
    await expect.poll(() => img.evaluate((e) => (e as unknown as { naturalWidth: number }).naturalWidth)).toBe(2);
    await page.getByTestId('crumbs').getByRole('link', { name: 'data' }).click();
    await page.getByRole('link', { name: 'readings.parquet' }).click();
    const pq = page.getByTestId('parquet-preview');
    await expect.poll(() => pq.innerText()).toContain('oslo');
    expect(await pq.innerText()).toMatch(/Schema \(3 rows\)/);
    expect(await pq.locator('tbody tr').count()).toBe(3);
    await b.shot('file-parquet');
  });

  it('diffs two refs, filters the changes and opens a row-level diff', async () => {
    const { page } = b;
    await page.getByRole('link', { name: 'Diff' }).click();
    await page.getByTestId('diff-a').fill('v1');
    await page.getByTestId('diff-b').fill('main');
    await page.getByRole('button', { name: 'compare' }).click();
    const diff = page.getByTestId('diff');
    await expect.poll(() => diff.innerText()).toContain('data/raw/2024-01-02.csv');
    expect(await page.getByTestId('diff-summary').innerText()).toMatch(/1 modified, 0 deleted/);
    await page.getByTestId('diff-status').selectOption('modified');
    await expect.poll(() => diff.locator('tbody tr').count()).toBe(1);
    await b.shot('diff');
    await diff.getByRole('link', { name: 'rows' }).click();
    const rows = page.getByTestId('row-diff');
    await expect.poll(() => rows.innerText()).toContain('oslo');
    expect(await rows.locator('tr.r-add').innerText()).toMatch(/\+\s+oslo\s+-5/);
    expect(await rows.locator('tr.r-del').innerText()).toMatch(/-\s+rome\s+202/);
    await b.shot('diff-rows');
  });

  it('opens the failed run, its datums with the timeline, and the failed datum\'s log', async () => {
    const { page } = b;
    await page.getByRole('link', { name: 'Runs' }).click();
    const runs = page.getByTestId('runs');
    await expect.poll(() => runs.locator('tbody tr').count()).toBe(2);
    await runs.locator('tr', { hasText: 'failed' }).getByRole('link').first().click();
    await expect.poll(() => page.getByTestId('run-id').innerText()).toBe(proj.failedRun.slice(0, 10));
    expect(await page.getByTestId('stage-tabs').innerText()).toMatch(/clean\s+failed/);
    const datums = page.getByTestId('datums');
    await expect.poll(() => datums.innerText()).toContain('data/raw/2024-01-04.csv');
    expect(await datums.locator('.drow').count()).toBe(2); // day 2 changed, day 4 is new; days 1 and 3 were reused
    expect(await datums.locator('.gantt .bar.s-failed').count()).toBe(1);
    await expect.poll(() => page.getByTestId('datum-log').innerText()).toContain('bad row in 2024-01-04');
    await b.shot('run');
    await datums.locator('[data-datum="data/raw/2024-01-02.csv"]').click();
    await expect.poll(() => page.getByTestId('datum-log').innerText()).toContain('cleaning 2024-01-02');
  });

  it('draws the stage DAG coloured by state', async () => {
    const { page } = b;
    await page.getByRole('link', { name: 'DAG' }).click();
    const dag = page.getByTestId('dag');
    await expect.poll(() => dag.locator('g.node').count()).toBe(2);
    expect(await dag.locator('[data-node=clean]').getAttribute('class')).toContain('s-failed');
    expect(await dag.locator('[data-node=report]').getAttribute('class')).toContain('s-succeeded');
    expect(await dag.locator('path.edge').count()).toBe(1);
    await b.shot('dag');
  });

  it('traces the lineage of an output and links to the run that made it', async () => {
    const { page } = b;
    await page.goto(`${ui.url}#/tree/main/data/clean`);
    await page.getByTestId('tree').locator('tr', { hasText: '2024-01-01.csv' }).getByRole('link', { name: 'lineage' }).click();
    const g = page.getByTestId('lineage');
    await expect.poll(() => g.locator('g.node').count()).toBe(4);
    const text = await g.innerText();
    for (const s of ['data/clean/2024-01-01.csv', 'data/raw/2024-01-01.csv', 'clean.sh', 'clean [2024-01-01.csv]']) expect(text).toContain(s);
    await b.shot('lineage');
    await g.locator('a', { hasText: 'clean [2024-01-01.csv]' }).click();
    await expect.poll(() => page.getByTestId('run-id').innerText()).toBe(proj.goodRun.slice(0, 10));
  });

  it('draws the run timeline from recorded start times and shows who made each commit', async () => {
    const { page } = b;
    await page.goto(`${ui.url}#/run/${proj.goodRun}`);
    await expect.poll(() => page.getByTestId('datums').locator('.drow').count()).toBe(3);
    expect(await page.locator('.stage .toolbar').innerText()).not.toContain('estimated');
    await page.getByRole('link', { name: 'Runs' }).click();
    await expect.poll(() => page.getByTestId('runs').locator('tbody tr').count()).toBe(2);
    expect(await page.getByTestId('runs').locator('thead').innerText()).toContain('who');
    expect(await page.getByTestId('run-who').count()).toBe(2);
  });
});

describe('dv serve --ui in Chromium', () => {
  let srv: RunningUi;
  let key: { id: string; secret: string };
  beforeAll(async () => {
    key = JSON.parse((await dvOk(proj.root, ['keys', 'create', '--read', 'dev', '--json'])).stdout) as typeof key;
    srv = await startUi(proj.root, ['serve', '--ui', '--port', '0']);
  });
  afterAll(async () => { await srv?.stop(); });

  it('asks for a key, then shows only what the key may read', async () => {
    const { page } = b;
    await page.goto(srv.url);
    const form = page.getByTestId('login');
    await form.getByLabel('access key id').fill(key.id);
    await form.getByLabel('secret access key').fill('not the secret');
    await form.getByRole('button', { name: 'log in' }).click();
    await expect.poll(() => form.getByRole('alert').innerText()).toContain('wrong secret');
    await form.getByLabel('secret access key').fill(key.secret);
    await form.getByRole('button', { name: 'log in' }).click();
    await expect.poll(() => page.getByTestId('who').innerText()).toContain(key.id);
    await expect.poll(() => page.getByTestId('branches').innerText()).toContain('dev');
    expect(await page.getByTestId('branches').innerText()).not.toContain('main');
    expect(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie)).toBe(''); // HttpOnly: no script sees the session
    await b.shot('login-dev-key');
  });
});

describe('a run of many datums in Chromium', () => {
  let many: RunningUi;
  let runId: string;
  const N = 400;
  beforeAll(async () => {
    const root = dirs.make('dv-ui-many-');
    await dvOk(root, ['init']);
    for (let i = 0; i < N; i++) writeFile(root, `in/f${String(i).padStart(4, '0')}.txt`, `${i}\n`);
    writeFile(root, 'dv.yaml', 'stages:\n  copy:\n    foreach: in/*.txt\n    cmd: cp ${in} ${out}\n    outs: out/\n');
    await dvOk(root, ['add', 'in', '-m', 'inputs']);
    await dvOk(root, ['run', '-j', '2']);
    runId = (JSON.parse((await dvOk(root, ['runs', '--json'])).stdout) as { id: string }[])[0]!.id;
    many = await startUi(root, ['ui']);
  }, 180_000);
  afterAll(async () => { await many?.stop(); });

  it('keeps only the visible datum rows in the page and fetches the rest as it scrolls', async () => {
    const { page } = b;
    await page.goto(`${many.url}#/run/${runId}/copy`);
    const datums = page.getByTestId('datums');
    await expect.poll(() => datums.locator('.drow').count()).toBeGreaterThan(5);
    expect(await page.locator('.stage .toolbar').innerText()).toContain(`${N} datums listed`);
    expect(await datums.locator('.vrow').count()).toBeLessThan(60);
    await datums.evaluate((e) => { e.scrollTop = e.scrollHeight; });
    const last = datums.locator(`.vrow[style*="top: ${(N - 1) * 26}px"] .drow`);
    await expect.poll(() => last.count()).toBe(1);
    expect(await last.getAttribute('data-datum')).toMatch(/^in\/f\d{4}\.txt$/);
    expect(await datums.locator('.vrow').count()).toBeLessThan(60);
    expect(await datums.locator('.gantt .bar.s-succeeded').count()).toBeGreaterThan(5);
    await b.shot('run-many');
  });
});
