// The console's pipeline pages in a real browser (Debian's Chromium through
// playwright-core) over real `dv ui` processes: the metrics page (revisions side by
// side, change against HEAD, a metric over commits, the plots) and the experiments page
// of the DVC example project, each checked against what the CLI prints for the same
// data; and a run's datum log tailing live on the runs page while the run goes on.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, TempDirs, dvJson, dvOk, spawnDv, writeFile, type DvProcess } from '../helpers/cli.js';
import { openBrowser, type Browser } from './browser.js';
import { startUi, type RunningUi } from './project.js';

const dirs = new TempDirs();
let b: Browser;

beforeAll(async () => {
  b = await openBrowser();
}, 60_000);
afterAll(async () => {
  await b?.close();
  dirs.cleanup();
});

interface MetricsAt { rev: string; commit: string; metrics: Record<string, Record<string, number>> }
interface ExpRow { name: string; kind: string; runId: string | null; params: Record<string, number>; metrics: Record<string, Record<string, number>> }

describe('metrics and experiments of the DVC example project', () => {
  let root: string;
  let ui: RunningUi;
  let shown: MetricsAt[];
  let exps: ExpRow[];
  let expRunText: string;

  beforeAll(async () => {
    root = path.join(dirs.make('dv-ui-metrics-'), 'project');
    fs.cpSync(path.join(REPO_ROOT, 'examples', 'dvc-project'), root, { recursive: true });
    await dvOk(root, ['init']);
    await dvOk(root, ['add', 'data']);
    await dvOk(root, ['run']);
    // A second commit with another learning rate: a metric over two commits.
    writeFile(root, 'params.yaml', fs.readFileSync(path.join(root, 'params.yaml'), 'utf8').replace('lr: 0.1', 'lr: 0.2'));
    await dvOk(root, ['run']);
    expRunText = (await dvOk(root, ['exp', 'run', '-p', 'featurize.degree=1,2'])).stdout;
    shown = await dvJson<MetricsAt[]>(root, ['metrics', 'show', 'HEAD', '-n', '2', '--json']);
    exps = await dvJson<ExpRow[]>(root, ['exp', 'show', '--json']);
    ui = await startUi(root, ['ui']);
  }, 240_000);
  afterAll(async () => {
    await ui?.stop();
  });

  it('dv exp run labels the ids it prints: its run ids are those dv exp show lists', () => {
    const lines = expRunText.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      const m = /^(\S+) {2}succeeded {2}run ([0-9a-f]{12}) {2}commit ([0-9a-f]{12}) {2}featurize\.degree=[12]$/.exec(line);
      expect(m, line).not.toBeNull();
      expect(exps.find((e) => e.name === m![1])?.runId?.slice(0, 12)).toBe(m![2]);
    }
  });

  it('shows metrics and params of HEAD and its parent side by side, as dv metrics show does, with the change against HEAD', async () => {
    const { page } = b;
    await page.goto(`${ui.url}#/metrics?refs=HEAD&n=2`);
    const table = page.getByTestId('metrics-table');
    await expect.poll(() => table.locator('tbody tr').count()).toBe(2);
    const [head, parent] = shown as [MetricsAt, MetricsAt];
    expect(await table.locator('thead').innerText()).toMatch(/HEAD[\s\S]*HEAD~1/);
    for (const metric of ['mse', 'r2']) {
      const row = table.locator('tbody tr', { hasText: metric });
      const cells = await row.locator('td').allInnerTexts();
      const h = head.metrics['eval/metrics.json']![metric]!;
      const p = parent.metrics['eval/metrics.json']![metric]!;
      expect(cells[0]).toBe('eval/metrics.json');
      expect(cells[2]).toBe(String(Number(h.toPrecision(6))));
      // HEAD~1's value, then its change against HEAD in brackets.
      expect(cells[3]).toContain(String(Number(p.toPrecision(6))));
      expect(cells[3]).toContain(`(${p - h > 0 ? '+' : ''}${Number((p - h).toPrecision(4))})`);
    }
    const params = await page.getByTestId('params-table').locator('tbody tr', { hasText: 'train.lr' }).locator('td').allInnerTexts();
    expect(params).toEqual(['train.lr', '0.2', '0.1']);
    // The chart of a metric over the two commits, and the two plots of the pipeline.
    await expect.poll(() => page.getByTestId('metric-chart').locator('canvas').count()).toBe(1);
    await expect.poll(() => page.getByTestId('plot').count()).toBe(2);
    expect(await page.locator('[data-testid=plot][data-path="eval/loss.csv"] canvas').count()).toBe(1);
    expect(await page.locator('[data-testid=plot][data-path="eval/predictions.csv"]').innerText()).toContain('scatter');
    await b.shot('metrics');
  });

  it('answers /ui/api/metrics with what the pipeline library computes', async () => {
    const r = await (await fetch(`${ui.url}api/metrics?refs=HEAD&n=2`)).json() as { revisions: (MetricsAt & { vsHead: { metrics: { metric: string; change: number }[] } })[] };
    expect(r.revisions.map((x) => [x.rev, x.commit, x.metrics])).toEqual(shown.map((x) => [x.rev, x.commit, x.metrics]));
    expect(r.revisions[0]!.vsHead.metrics).toEqual([]);
    const diff = await dvJson<{ metric: string; change: number }[]>(root, ['metrics', 'diff', 'HEAD', 'HEAD~1', '--json']);
    expect(r.revisions[1]!.vsHead.metrics.map((c) => [c.metric, c.change])).toEqual(diff.map((c) => [c.metric, c.change]));
  });

  it('lists the experiments with their params and metrics as dv exp show does, sorted by any column', async () => {
    const { page } = b;
    await page.getByRole('link', { name: 'Experiments', exact: true }).click();
    const table = page.getByTestId('experiments');
    await expect.poll(() => table.locator('tbody tr').count()).toBe(exps.length);
    for (const e of exps) {
      const row = table.locator(`tr[data-exp="${e.name}"]`);
      const text = await row.innerText();
      expect(text).toContain(e.name);
      expect(text).toContain(String(Number(e.metrics['eval/metrics.json']!.mse!.toPrecision(6))));
    }
    // The baseline stays first; experiments follow in the order of the column clicked.
    await table.locator('th[data-col="m:eval/metrics.json:mse"]').click();
    const order = (await table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-exp'))));
    const byMse = exps.filter((e) => e.kind === 'experiment').sort((x, y) => x.metrics['eval/metrics.json']!.mse! - y.metrics['eval/metrics.json']!.mse!);
    expect(order).toEqual(['HEAD', ...byMse.map((e) => e.name)]);
    await table.locator('th[data-col="m:eval/metrics.json:mse"]').click();
    expect(await table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-exp')))).toEqual(['HEAD', ...byMse.reverse().map((e) => e.name)]);
    await expect.poll(() => page.getByTestId('exp-chart').locator('canvas').count()).toBe(1);
    await b.shot('experiments');
  });
});

describe('a running datum\'s log on the runs page', () => {
  let root: string;
  let ui: RunningUi;
  let run: DvProcess | null = null;

  beforeAll(async () => {
    root = dirs.make('dv-ui-live-');
    await dvOk(root, ['init']);
    // The command says where it is and waits for the test's go-ahead files: a run that is
    // slow for exactly as long as the test wants, with no timing to guess.
    writeFile(root, 'slow.sh', 'echo "tick 1"\nwhile [ ! -e go-2 ]; do sleep 0.05; done\necho "tick 2"\nwhile [ ! -e go-3 ]; do sleep 0.05; done\necho done > "$1"\n');
    writeFile(root, 'dv.yaml', 'stages:\n  slow:\n    cmd: sh slow.sh ${out}\n    deps: [slow.sh]\n    outs: [result.txt]\n');
    await dvOk(root, ['add', 'slow.sh']);
    ui = await startUi(root, ['ui']);
  }, 60_000);
  afterAll(async () => {
    for (const f of ['go-2', 'go-3']) writeFile(root, f, '');
    await run?.done;
    await ui?.stop();
  });

  it('tails the output while the run goes on, then lists the finished run', async () => {
    const { page } = b;
    await page.goto(`${ui.url}#/runs`);
    await expect.poll(() => page.getByTestId('runs').locator('tbody tr').count()).toBe(0);
    run = spawnDv(root, ['run']);
    const log = page.getByTestId('live-log');
    await expect.poll(() => log.innerText().catch(() => ''), { timeout: 30_000 }).toContain('tick 1');
    expect(await page.getByTestId('run-active').innerText()).toContain('in progress');
    expect(await log.innerText()).not.toContain('tick 2');
    writeFile(root, 'go-2', '');
    // The same page, not reloaded: the new line arrives while the run is still going.
    await expect.poll(() => log.innerText().catch(() => ''), { timeout: 30_000 }).toContain('tick 2');
    expect(await page.getByTestId('live-datum').getAttribute('data-datum')).toBe('');
    await b.shot('runs-live');
    writeFile(root, 'go-3', '');
    expect((await run.done).code).toBe(0);
    await expect.poll(() => page.getByTestId('runs').locator('tbody tr').count(), { timeout: 30_000 }).toBe(1);
    await expect.poll(() => page.getByTestId('live-runs').count()).toBe(0);
    expect(await page.getByTestId('runs').innerText()).toContain('succeeded');
    expect(fs.readFileSync(path.join(root, 'result.txt'), 'utf8')).toBe('done\n');
  });
});
