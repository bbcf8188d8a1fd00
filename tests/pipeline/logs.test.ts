// dv runs logs ID [DATUM] [--follow] against a real run in progress (child processes
// that wait for a go-file), then after it ended; and the live progress figures.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunProgress, lastLine } from '../../src/pipeline/progress.js';
import { TempDirs, dvJson, dvOk, spawnDv, waitFor } from '../helpers/cli.js';

const tmp = new TempDirs();
let root: string;

beforeAll(async () => {
  root = tmp.make('dv-logs-');
  fs.mkdirSync(path.join(root, 'data/raw'), { recursive: true });
  for (const d of ['a', 'b', 'c']) fs.writeFileSync(path.join(root, `data/raw/${d}.txt`), `${d}\n`);
  fs.writeFileSync(path.join(root, 'work.sh'), 'n=$(basename "$1" .txt)\necho "hello $n"\nwhile [ ! -e "go-$n" ]; do sleep 0.05; done\necho "bye $n" >&2\ncp "$1" "$2"\n');
  fs.writeFileSync(path.join(root, 'dv.yaml'), 'stages:\n  copy:\n    foreach: data/raw/*.txt\n    cmd: sh work.sh ${in} ${out}\n    deps: [work.sh]\n    outs: data/out/\n');
  await dvOk(root, ['init', '-q']);
  await dvOk(root, ['add', 'data/raw', '-q']);
});
afterAll(() => tmp.cleanup());

interface Logs { runId: string; running: boolean; entries: { stage: string; datum: string; status: string; text: string }[] }

describe('dv runs logs', () => {
  it('shows finished and running datums while a run goes on, follows it to the end', async () => {
    const run = spawnDv(root, ['run', '-j', '3'], { timeoutMs: 60_000 });
    const tmpDir = path.join(root, '.dv/tmp');
    const journal = (): string | undefined => fs.readdirSync(tmpDir).find((n) => /^run-[0-9a-f]{64}\.jsonl$/.test(n));
    expect(await waitFor(() => fs.existsSync(tmpDir) && fs.readdirSync(tmpDir).filter((n) => n.startsWith('job-')).length >= 3, 20_000)).toBe(true);
    fs.writeFileSync(path.join(root, 'go-a'), '');
    expect(await waitFor(() => journal() !== undefined, 20_000)).toBe(true);
    const runId = journal()!.slice(4, -6);
    expect(await waitFor(() => fs.readFileSync(path.join(tmpDir, journal()!), 'utf8').includes('data/raw/a.txt'), 20_000)).toBe(true);

    const now = await dvJson<Logs>(root, ['runs', 'logs', runId.slice(0, 12), '--json']);
    expect(now.running).toBe(true);
    expect(now.entries.map((e) => [e.datum, e.status])).toEqual([['data/raw/a.txt', 'succeeded'], ['data/raw/b.txt', 'running'], ['data/raw/c.txt', 'running']]);
    expect(now.entries[0]!.text).toContain('--- stdout ---\nhello a\n');
    expect(now.entries[0]!.text).toContain('--- stderr ---\nbye a\n');
    expect(now.entries[1]!.text).toContain('hello b');
    const one = await dvJson<Logs>(root, ['runs', 'logs', runId, 'data/raw/c.txt', '--json']);
    expect(one.entries.map((e) => e.datum)).toEqual(['data/raw/c.txt']);

    const follow = spawnDv(root, ['runs', 'logs', runId, '--follow'], { timeoutMs: 60_000 });
    expect(await waitFor(() => follow.exited() || false, 500)).toBe(false); // still following
    fs.writeFileSync(path.join(root, 'go-b'), '');
    fs.writeFileSync(path.join(root, 'go-c'), '');
    const done = await run.done;
    expect(done.code).toBe(0);
    const f = await follow.done;
    expect(f.code).toBe(0);
    for (const d of ['a', 'b', 'c']) expect(f.stdout).toContain(`== copy:data/raw/${d}.txt (succeeded) ==`);
    expect(f.stdout).toContain('hello b');

    // Over: from the record; the journal is gone.
    expect(journal()).toBeUndefined();
    const after = await dvJson<Logs>(root, ['runs', 'logs', runId, 'data/raw/b.txt', '--json']);
    expect(after).toMatchObject({ runId, running: false });
    expect(after.entries.map((e) => [e.datum, e.status])).toEqual([['data/raw/b.txt', 'succeeded']]);
    expect(after.entries[0]!.text).toContain('bye b');
    const text = (await dvOk(root, ['runs', 'logs', runId])).stdout;
    expect(text.split('\n').filter((l) => l.startsWith('=='))).toEqual([
      '== copy:data/raw/a.txt (succeeded) ==', '== copy:data/raw/b.txt (succeeded) ==', '== copy:data/raw/c.txt (succeeded) ==',
    ]);
  }, 90_000);
});

describe('live progress figures', () => {
  it('counts done, running, cached and failed datums, with a rate and an ETA', () => {
    let t = 0;
    const p = new RunProgress(() => t);
    p.onEvent({ type: 'plan', stage: 's', plan: { stage: 's', datums: [], counts: { run: 4, cached: 1, reuse: 3, remove: 0 } } });
    p.onEvent({ type: 'done', stage: 's', datum: 'c', status: 'cached', durationMs: 0, error: null });
    p.onEvent({ type: 'start', stage: 's', datum: 'a' });
    p.onEvent({ type: 'start', stage: 's', datum: 'b' });
    t = 2000;
    p.onEvent({ type: 'done', stage: 's', datum: 'a', status: 'succeeded', durationMs: 5, error: null });
    p.onEvent({ type: 'done', stage: 's', datum: 'b', status: 'failed', durationMs: 5, error: 'x' });
    expect(p.snapshot()).toEqual({ stage: 's', done: 3, total: 5, running: 0, cached: 1, failed: 1, rate: 0.5, etaSec: 4 });
    expect(lastLine('first\nsecond line\n\n')).toBe('second line');
  });
});
