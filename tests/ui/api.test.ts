// The console's JSON API through real `dv ui` and `dv serve --ui` processes: paging,
// previews, diffs, runs and their logs, the DAG and lineage; read-only routes; login,
// session cookies and the read patterns of access keys.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dv, dvOk, TempDirs, writeFile } from '../helpers/cli.js';
import { makeProject, startUi, type RunningUi, type UiProject } from './project.js';

const dirs = new TempDirs();
let proj: UiProject;
let ui: RunningUi;

async function api<T = Record<string, unknown>>(base: string, route: string, init: RequestInit = {}): Promise<{ status: number; body: T; res: Response }> {
  const res = await fetch(`${base}api/${route}`, init);
  const text = await res.text();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* text/plain (logs) */ }
  return { status: res.status, body: body as T, res };
}

beforeAll(async () => {
  proj = await makeProject(dirs.make('dv-ui-api-'));
  ui = await startUi(proj.root, ['ui']);
}, 120_000);

afterAll(async () => {
  await ui?.stop();
  dirs.cleanup();
});

describe('dv ui (loopback, no key)', () => {
  it('lists branches and tags, and pages the history over every parent', async () => {
    const refs = (await api(ui.url, 'refs')).body as { branches: { name: string }[]; tags: { name: string }[]; head: string };
    expect(refs.branches.map((b) => b.name)).toEqual(['dev', 'main']);
    expect(refs.tags.map((t) => t.name)).toEqual(['v1']);
    expect(refs.head).toBe('main');
    const p1 = (await api(ui.url, 'log?ref=main&limit=2')).body as { items: { message: string; run: string | null }[]; more: boolean };
    expect(p1.items.map((c) => c.message)).toEqual(['fix day 2, add day 4', expect.stringContaining('')]);
    expect(p1.more).toBe(true);
    const p2 = (await api(ui.url, 'log?ref=main&limit=2&offset=2')).body as typeof p1;
    expect(p2.items.map((c) => c.message)).toEqual(['raw readings']);
    expect(p2.more).toBe(false);
    expect(p1.items[1]!.run).toBe(proj.goodRun);
  });

  it('pages a directory on the server, filters it, and caps the page size', async () => {
    const a = (await api(ui.url, 'tree?ref=main&path=data/raw&limit=3')).body as { items: { name: string; size: number; hash: string }[]; total: number };
    const b = (await api(ui.url, 'tree?ref=main&path=data/raw&limit=3&offset=3')).body as typeof a;
    expect(a.total).toBe(4);
    expect(a.items.map((e) => e.name)).toEqual(['2024-01-01.csv', '2024-01-02.csv', '2024-01-03.csv']);
    expect(b.items.map((e) => e.name)).toEqual(['2024-01-04.csv']);
    expect(a.items[0]!.hash).toMatch(/^[0-9a-f]{64}$/);
    const f = (await api(ui.url, 'tree?ref=main&path=data/raw&q=01-0')).body as typeof a;
    expect(f.items.length).toBe(4);
    expect(((await api(ui.url, 'tree?ref=v1&path=data/raw')).body as typeof a).total).toBe(3);
    expect(((await api(ui.url, 'tree?ref=main&path=data&limit=999999')).body as { limit: number }).limit).toBe(2000);
    expect((await api(ui.url, 'tree?ref=main&path=nope')).status).toBe(404);
    expect((await api(ui.url, 'tree?ref=main&path=data&offset=-1')).status).toBe(400);
  });

  it('previews CSV as pages of rows, JSON and text, and serves raw bytes with ranges', async () => {
    const t = (await api(ui.url, 'table?ref=main&path=data/raw/2024-01-02.csv&limit=1&offset=1')).body as { header: string[]; items: string[][]; more: boolean };
    expect(t.header).toEqual(['city', 'temp']);
    expect(t.items).toEqual([['oslo', '-5']]);
    expect(t.more).toBe(false);
    const info = (await api(ui.url, 'file?ref=main&path=data/info.json')).body as { preview: string; s3: string; size: number };
    expect(info.preview).toBe('json');
    expect(info.s3).toMatch(/^s3:\/\/dv-ui-api-\w+\/main\/data\/info\.json$/);
    expect(((await api(ui.url, 'text?ref=main&path=data/notes.txt')).body as { text: string }).text).toBe('Readings from three stations.\n');
    const r = await fetch(`${ui.url}api/raw?ref=main&path=data/pixel.png`, { headers: { range: 'bytes=1-3' } });
    expect(r.status).toBe(206);
    expect(Buffer.from(await r.arrayBuffer()).toString('latin1')).toBe('PNG');
    expect(r.headers.get('content-range')).toMatch(/^bytes 1-3\/\d+$/);
  });

  it('diffs two refs with filters and a row-level diff of a small CSV', async () => {
    const d = (await api(ui.url, 'diff?a=v1&b=main')).body as { counts: Record<string, number>; items: { path: string; status: string; rowDiff: boolean }[]; total: number };
    expect(d.counts.added).toBeGreaterThan(3); // the run's outputs and day 4
    const mod = (await api(ui.url, 'diff?a=v1&b=main&status=modified')).body as typeof d;
    expect(mod.items.map((c) => c.path)).toEqual(['data/raw/2024-01-02.csv']);
    expect(mod.items[0]!.rowDiff).toBe(true);
    const q = (await api(ui.url, 'diff?a=v1&b=main&q=report')).body as typeof d;
    expect(q.items.map((c) => c.path)).toEqual(['data/report.txt']);
    const rows = (await api(ui.url, 'diff/rows?a=v1&b=main&path=data/raw/2024-01-02.csv')).body as { items: { op: string; cells: string[] }[] };
    expect(rows.items).toEqual([
      { op: ' ', cells: ['city', 'temp'] }, { op: ' ', cells: ['paris', '02'] },
      { op: '-', cells: ['rome', '202'] }, { op: '+', cells: ['oslo', '-5'] },
    ]);
  });

  it('lists runs, pages a stage\'s datums and returns the failed datum\'s log', async () => {
    const runs = (await api(ui.url, 'runs')).body as { items: { id: string; status: string; counts: { failed: number } }[]; total: number; active: unknown };
    expect(runs.total).toBe(2);
    expect(runs.active).toBeNull();
    expect(runs.items.find((r) => r.id === proj.failedRun)!.counts.failed).toBe(1);
    const run = (await api(ui.url, `runs/${proj.failedRun.slice(0, 12)}`)).body as { status: string; stages: { name: string; failed: string[] }[]; params: Record<string, unknown> };
    expect(run.status).toBe('failed');
    expect(run.params).toEqual({ threshold: 3 });
    expect(run.stages[0]!.failed).toEqual(['data/raw/2024-01-04.csv']);
    const failed = (await api(ui.url, `runs/${proj.failedRun}/datums?stage=clean&status=failed`)).body as { items: { id: string; exitCode: number; hasLog: boolean }[]; total: number };
    expect(failed.total).toBe(1);
    expect(failed.items[0]).toMatchObject({ id: 'data/raw/2024-01-04.csv', exitCode: 4, hasLog: true });
    const good = (await api(ui.url, `runs/${proj.goodRun}/datums?stage=clean&limit=2`)).body as { items: { id: string; startMs: number }[]; total: number };
    expect(good.total).toBe(3);
    expect(good.items.map((d) => d.id)).toEqual(['data/raw/2024-01-01.csv', 'data/raw/2024-01-02.csv']);
    // Placed from the start times the record keeps (dv run -j 1: one after another, on one lane).
    const timed = (await api(ui.url, `runs/${proj.goodRun}/datums?stage=clean`)).body as { estimated: boolean; items: { startMs: number; durationMs: number; lane: number }[] };
    expect(timed.estimated).toBe(false);
    expect(timed.items.map((d) => d.lane)).toEqual([0, 0, 0]);
    const starts = timed.items.map((d) => d.startMs);
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    expect(runs.items.every((r) => 'who' in r)).toBe(true);
    const log = await api(ui.url, `runs/${proj.failedRun}/log?stage=clean&datum=data/raw/2024-01-04.csv`);
    expect(log.res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(log.body).toContain('bad row in 2024-01-04');
    expect((await api(ui.url, 'runs/ffffffff')).status).toBe(404);
  });

  it('draws the DAG with stage states and traces lineage of an output', async () => {
    const dag = (await api(ui.url, 'dag?ref=main')).body as { stages: { name: string; status: string }[]; edges: { from: string; to: string }[] };
    // The failed run stopped before report: report shows how it did last (in the state of main).
    expect(dag.stages.map((s) => [s.name, s.status])).toEqual([['clean', 'failed'], ['report', 'succeeded']]);
    expect(dag.edges).toEqual([{ from: 'clean', to: 'report', via: ['data/clean'] }]);
    const l = (await api(ui.url, 'lineage?ref=main&path=data/clean/2024-01-01.csv')).body as { root: { kind: string; stage: string; run: string; inputs: { path: string; kind: string }[] } };
    expect(l.root).toMatchObject({ kind: 'output', stage: 'clean', run: proj.goodRun });
    expect(l.root.inputs.map((i) => [i.path, i.kind])).toEqual([['data/raw/2024-01-01.csv', 'source'], ['clean.sh', 'source']]);
  });

  it('refuses every write and changes nothing', async () => {
    const before = (await api(ui.url, 'refs')).body;
    for (const [method, route] of [['POST', 'refs'], ['PUT', 'tree?ref=main&path=data'], ['DELETE', 'runs'], ['PATCH', 'raw?ref=main&path=data/notes.txt']] as const) {
      const r = await api(ui.url, route, { method, body: 'x' });
      expect(r.status, `${method} ${route}`).toBe(405);
    }
    expect((await fetch(`${ui.url}tree`, { method: 'POST' })).status).toBe(405);
    expect((await api(ui.url, 'refs')).body).toEqual(before);
    for (const route of ['metrics', 'plots', 'experiments', 'live']) expect((await api(ui.url, route, { method: 'POST', body: 'x' })).status, route).toBe(405);
    // This project declares no metrics: an empty answer, not an error.
    expect((await api(ui.url, 'metrics?refs=main')).body).toMatchObject({ files: [], error: null });
  });

  it('serves the built page from dv itself: no CDN, a strict CSP, nothing outside its folder', async () => {
    const html = await fetch(ui.url);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    const text = await html.text();
    expect(text).not.toMatch(/https?:\/\//);
    const js = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(text)![1]!;
    const asset = await fetch(new URL(js, ui.url));
    expect(asset.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await asset.text()).length).toBeGreaterThan(10_000);
    for (const probe of ['..%2f..%2f..%2fpackage.json', '%2e%2e/%2e%2e/%2e%2e/package.json', 'assets/..%2f..%2f..%2f..%2fpackage.json']) {
      const r = await fetch(`${ui.url}${probe}`);
      expect(await r.text(), probe).not.toContain('"devDependencies"');
    }
  });

  it('dv ui --login asks for a key even on loopback', async () => {
    const locked = await startUi(proj.root, ['ui', '--login']);
    try {
      expect((await api(locked.url, 'refs')).status).toBe(401);
      expect(((await api(locked.url, 'session')).body as { anonymous: boolean }).anonymous).toBe(false);
    } finally {
      await locked.stop();
    }
  });

  it('dv ui outside a repository says so', async () => {
    const r = await dv(dirs.make('dv-ui-none-'), ['ui']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^dv: error: not a dv repository/);
  });

  it('answers a key-less console only under a loopback host name', async () => {
    const port = new URL(ui.url).port;
    const http = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/ui/api/refs', headers: { host: `evil.example:${port}` } }, (res) => { res.resume(); resolve(res.statusCode!); }).on('error', reject);
    });
    expect(status).toBe(401);
  });
});

describe('dv serve --ui (access keys)', () => {
  let srv: RunningUi;
  let all: { id: string; secret: string };
  let devOnly: { id: string; secret: string };

  beforeAll(async () => {
    all = JSON.parse((await dvOk(proj.root, ['keys', 'create', '--read', '*', '--json'])).stdout) as typeof all;
    devOnly = JSON.parse((await dvOk(proj.root, ['keys', 'create', '--read', 'dev', '--json'])).stdout) as typeof devOnly;
    srv = await startUi(proj.root, ['serve', '--ui', '--port', '0']);
  });
  afterAll(async () => { await srv?.stop(); });

  const login = async (id: string, secret: string): Promise<{ status: number; cookie: string | null }> => {
    const r = await fetch(`${srv.url}api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ accessKeyId: id, secretAccessKey: secret }) });
    return { status: r.status, cookie: r.headers.get('set-cookie') };
  };
  const as = (cookie: string) => ({ headers: { cookie: cookie.split(';')[0]! } });

  it('needs a session; a wrong secret gets none; the cookie is HttpOnly and SameSite=Strict', async () => {
    expect((await api(srv.url, 'refs')).status).toBe(401);
    expect(((await api(srv.url, 'session')).body as { loggedIn: boolean }).loggedIn).toBe(false);
    expect((await login(all.id, 'wrong')).status).toBe(401);
    expect((await login('DVNOSUCHKEY', all.secret)).status).toBe(401);
    const ok = await login(all.id, all.secret);
    expect(ok.status).toBe(200);
    expect(ok.cookie).toMatch(/HttpOnly/);
    expect(ok.cookie).toMatch(/SameSite=Strict/);
    expect((await api(srv.url, 'runs', as(ok.cookie!))).status).toBe(200);
    const forged = ok.cookie!.replace(/\.[^.;]+;/, '.AAAA;');
    expect((await api(srv.url, 'runs', as(forged))).status).toBe(401);
    const r = await fetch(`${srv.url}api/login`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ accessKeyId: all.id, secretAccessKey: all.secret }) });
    expect(r.status).toBe(415);
  });

  it('honours read patterns: a dev-only key sees dev and nothing else', async () => {
    const { cookie } = await login(devOnly.id, devOnly.secret);
    const c = as(cookie!);
    const refs = (await api(srv.url, 'refs', c)).body as { branches: { name: string }[]; tags: unknown[] };
    expect(refs.branches.map((b) => b.name)).toEqual(['dev']);
    expect(refs.tags).toEqual([]);
    expect((await api(srv.url, 'tree?ref=dev&path=data', c)).status).toBe(200);
    expect((await api(srv.url, 'tree?ref=main&path=data', c)).status).toBe(403);
    expect((await api(srv.url, 'raw?ref=v1&path=data/notes.txt', c)).status).toBe(403);
    const mainId = refs.branches.length && ((await api(ui.url, 'refs')).body as { branches: { name: string; commit: string }[] }).branches.find((b) => b.name === 'main')!.commit;
    expect((await api(srv.url, `tree?ref=${mainId}&path=data`, c)).status).toBe(403);
    expect((await api(srv.url, 'diff?a=dev&b=main', c)).status).toBe(403);
    // Both runs ran on main: this key sees none of them, nor their logs.
    expect(((await api(srv.url, 'runs', c)).body as { total: number }).total).toBe(0);
    expect((await api(srv.url, `runs/${proj.failedRun}/log?stage=clean&datum=data/raw/2024-01-04.csv`, c)).status).toBe(404);
  });

  it('ends a session when its key is revoked', async () => {
    const { cookie } = await login(all.id, all.secret);
    expect((await api(srv.url, 'refs', as(cookie!))).status).toBe(200);
    await dvOk(proj.root, ['keys', 'revoke', all.id]);
    expect((await api(srv.url, 'refs', as(cookie!))).status).toBe(401);
  });
});

describe('a directory stored in parts (more than 1,024 entries)', () => {
  let big: RunningUi;
  const N = 3000;
  const names = Array.from({ length: N }, (_, i) => `f${String(i).padStart(5, '0')}.txt`);
  beforeAll(async () => {
    const root = dirs.make('dv-ui-big-');
    await dvOk(root, ['init']);
    for (const n of names) writeFile(root, `many/${n}`, n);
    await dvOk(root, ['add', 'many', '-m', 'many']);
    big = await startUi(root, ['ui']);
  }, 120_000);
  afterAll(async () => { await big?.stop(); });

  type TreePage = { items: { name: string; size: number }[]; total: number | null; more: boolean; estimate: number };

  it('serves the first page before it knows the total, and every entry once over all pages', async () => {
    const first = (await api<TreePage>(big.url, 'tree?ref=main&path=many&limit=200')).body;
    expect(first.items.map((e) => e.name)).toEqual(names.slice(0, 200));
    expect(first.total).toBeNull();
    expect(first.more).toBe(true);
    expect(first.estimate).toBeGreaterThan(200);
    const seen: string[] = [];
    for (let offset = 0, more = true; more; offset += 700) {
      const p = (await api<TreePage>(big.url, `tree?ref=main&path=many&limit=700&offset=${offset}`)).body;
      seen.push(...p.items.map((e) => e.name));
      more = p.more;
    }
    expect(seen).toEqual(names);
    // Every part has been seen once: later pages know the total and skip to their offset.
    const deep = (await api<TreePage>(big.url, 'tree?ref=main&path=many&limit=200&offset=2950')).body;
    expect(deep.items.map((e) => e.name)).toEqual(names.slice(2950));
    expect(deep).toMatchObject({ total: N, more: false });
    const filtered = (await api<TreePage>(big.url, 'tree?ref=main&path=many&q=f0299')).body;
    expect(filtered.items.map((e) => e.name)).toEqual(names.slice(2990));
    expect(filtered.total).toBe(10);
  });
});
