// Outputs written where the stage declares them (DVC's way), through a real
// repository and real child processes: success, failure and cancel half-way through a
// large output (the committed version comes back byte-identical), foreach datums
// writing their own part, persist outs, and writes outside the declared outs.
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Repo } from '../../src/repo/repo.js';
import { add } from '../../src/repo/snapshot.js';
import { status } from '../../src/repo/status.js';
import { runPipeline, type RunOptions } from '../../src/pipeline/run.js';
import { Project } from '../helpers/project.js';
import { randomBytes, spawnDv, waitFor } from '../helpers/cli.js';

let project: Project;
let root: string;
let repo: Repo;
const write = (p: string, t: string | Buffer): void => project.write(p, t);
const read = (p: string): Buffer => readFileSync(join(root, p));
const run = (o: RunOptions = {}) => runPipeline(repo, { retryBaseDelayMs: 1, ...o });

// Writes 4 MiB of data/big.bin in place: the first half, then fails (fail-big) or waits (slow-big), then the rest.
const BIG_SH = `head -c 2097152 data/src.bin > data/big.bin
if [ -e fail-big ]; then exit 3; fi
if [ -e slow-big ]; then touch half-written; sleep 30; fi
head -c 2097152 data/src.bin >> data/big.bin
`;

beforeEach(async () => {
  project = new Project('dv-inplace-');
  ({ root, repo } = project);
  for (const d of ['2024-01-01', '2024-01-02', '2024-01-03']) write(`data/raw/${d}.csv`, `day ${d}\n`);
  write('data/src.bin', randomBytes(2 << 20, 'v1'));
  write('big.sh', BIG_SH);
  write('dv.yaml', `
stages:
  clean:
    foreach: data/raw/*.csv
    cmd: tr a-z A-Z < \${in} > data/clean/\${name}
    outs: data/clean/
  weekly:
    cmd: cat data/clean/*.csv > data/weekly.csv
    deps: [data/clean]
    outs: [data/weekly.csv]
  big:
    cmd: sh big.sh
    deps: [big.sh, data/src.bin]
    outs: [data/big.bin]
`);
  await add(repo, ['data']);
});

afterEach(() => project.close());

describe('in-place outputs', () => {
  it('accepts outputs written at their declared paths and commits them', async () => {
    const r = await run();
    expect(r.error).toBeNull();
    expect(read('data/clean/2024-01-02.csv').toString()).toBe('DAY 2024-01-02\n');
    expect(read('data/weekly.csv').toString()).toBe('DAY 2024-01-01\nDAY 2024-01-02\nDAY 2024-01-03\n');
    expect(read('data/big.bin').length).toBe(4 << 20);
    const head = repo.headCommit()!;
    expect((await repo.lookup(head, 'data/weekly.csv'))?.type).toBe('file');
    const st = await status(repo);
    expect([st.added, st.modified, st.deleted]).toEqual([[], [], []]);
    // Changing one input re-runs its datum only; nothing else is touched.
    write('data/raw/2024-01-02.csv', 'changed\n');
    const again = await run();
    expect(again.plans.map((p) => p.counts.run)).toEqual([1, 1, 0]);
    expect(read('data/weekly.csv').toString()).toBe('DAY 2024-01-01\nCHANGED\nDAY 2024-01-03\n');
  });

  it('a failed run puts back the committed version of a half-written output, byte-identical', async () => {
    await run();
    const committed = read('data/big.bin');
    write('data/src.bin', randomBytes(2 << 20, 'v2'));
    write('fail-big', '');
    const r = await run();
    expect(r.status).toBe('failed');
    expect(r.error).toBe('stage big: exited with status 3');
    expect(read('data/big.bin').equals(committed)).toBe(true);
    expect(readdirSync(join(root, 'data')).sort()).toEqual(['big.bin', 'clean', 'raw', 'src.bin', 'weekly.csv']);
    expect(readdirSync(join(root, '.dv/tmp')).filter((n) => !n.startsWith('job-'))).toEqual([]);
  });

  it('a cancelled run puts back the committed version too', async () => {
    await run();
    const committed = read('data/big.bin');
    write('data/src.bin', randomBytes(2 << 20, 'v3'));
    write('slow-big', '');
    const ac = new AbortController();
    const pending = run({ signal: ac.signal });
    expect(await waitFor(() => existsSync(join(root, 'half-written')), 20_000)).toBe(true);
    expect(read('data/big.bin').length).toBe(2 << 20); // half of the new version is in place
    ac.abort();
    const r = await pending;
    expect(r.status).toBe('cancelled');
    expect(read('data/big.bin').equals(committed)).toBe(true);
  });

  it('after dv is killed outright mid-write, the next run first puts the workspace back', async () => {
    await run();
    const committed = read('data/big.bin');
    write('data/src.bin', randomBytes(2 << 20, 'v4'));
    write('slow-big', '');
    const p = spawnDv(root, ['run', 'big'], { timeoutMs: 60_000 });
    expect(await waitFor(() => existsSync(join(root, 'half-written')), 20_000)).toBe(true);
    p.child.kill('SIGKILL');
    await p.done;
    expect(read('data/big.bin').length).toBe(2 << 20); // the killed run's partial file
    rmSync(join(root, 'slow-big'));
    rmSync(join(root, 'half-written'));
    write('fail-big', '');
    const r = await run({ stages: ['big'] });
    expect(r.status).toBe('failed');
    expect(read('data/big.bin').equals(committed)).toBe(true);
    expect(readdirSync(join(root, '.dv/tmp')).filter((n) => n.startsWith('undo-'))).toEqual([]);
  });

  it('a first run that fails leaves no partial output behind', async () => {
    write('fail-big', '');
    const r = await run({ stages: ['big'] });
    expect(r.status).toBe('failed');
    expect(existsSync(join(root, 'data/big.bin'))).toBe(false);
  });

  it('reports writes outside the declared outs, naming them, and commits nothing', async () => {
    write('dv.yaml', `
stages:
  sneaky:
    cmd: echo x > data/out.txt && echo y >> data/raw/2024-01-01.csv && echo z > data/raw/extra.csv
    deps: [data/raw]
    outs: [data/out.txt]
`);
    const head = repo.headCommit();
    const r = await run();
    expect(r.status).toBe('failed');
    expect(r.error).toBe('stage sneaky: wrote outside its declared outs: data/raw/2024-01-01.csv, data/raw/extra.csv (declare them in outs, or write them elsewhere)');
    expect(repo.headCommit()).toBe(head);
    expect(existsSync(join(root, 'data/out.txt'))).toBe(false);
  });

  it('persist outs are left in place for the command to update', async () => {
    write('dv.yaml', `
stages:
  log:
    cmd: cat data/raw/*.csv >> data/log.txt
    deps: [data/raw]
    outs:
      - data/log.txt: { persist: true }
`);
    await run();
    write('data/raw/2024-01-04.csv', 'day 2024-01-04\n');
    await run();
    expect(read('data/log.txt').toString().split('\n').filter(Boolean)).toHaveLength(3 + 4);
  });

  it('tracks a declared output file, not the directory around it', async () => {
    write('reports/README.md', 'kept in git\n');
    write('dv.yaml', `
stages:
  summary:
    cmd: wc -l data/raw/2024-01-01.csv > reports/summary.csv
    deps: [data/raw]
    outs: [reports/summary.csv]
`);
    await run();
    const c = await repo.readCommit(repo.headCommit()!);
    expect(c.paths).toEqual(['data', 'reports/summary.csv']);
    const st = await status(repo);
    expect([st.added, st.modified, st.deleted]).toEqual([[], [], []]);
  });
});
