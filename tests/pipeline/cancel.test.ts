// Ctrl-C during a real `dv run` child process, at seeded random moments: one line on
// stderr, the run recorded as cancelled, the workspace as it was (outputs written in
// place included), no scratch or undo directories left, `dv fsck` clean, and the next
// run reuses every datum that had finished instead of running it again.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SeededRandom, TempDirs, dvJson, dvOk, sleep, snapshotTree, spawnDv, takeRanLog, waitFor } from '../helpers/cli.js';

const tmp = new TempDirs();
let root: string;

beforeAll(async () => {
  root = tmp.make('dv-cancel-');
  for (let i = 0; i < 16; i++) {
    fs.mkdirSync(path.join(root, 'data/raw'), { recursive: true });
    fs.writeFileSync(path.join(root, 'data/raw', `${String(i).padStart(2, '0')}.txt`), `row ${i}\n`);
  }
  // Each datum takes ~0.2 s and writes its output in place, half first.
  fs.writeFileSync(path.join(root, 'work.sh'), [
    'out=data/out/$(basename "$1")',
    'head -c 3 "$1" > "$out"',
    'sleep 0.2',
    'cat "$1" > "$out"',
    'echo "done $1" >> ran.log',
  ].join('\n') + '\n');
  fs.writeFileSync(path.join(root, 'dv.yaml'), 'stages:\n  work:\n    foreach: data/raw/*.txt\n    cmd: sh work.sh ${in}\n    deps: [work.sh]\n    outs: data/out/\n');
  await dvOk(root, ['init', '-q']);
  await dvOk(root, ['add', 'data/raw', '-q']);
});
afterAll(() => tmp.cleanup());

describe('cancelling dv run', () => {
  it('stops cleanly at random moments and resumes without repeating finished datums', async () => {
    const rnd = new SeededRandom(11);
    let cancelled = 0;
    for (let round = 0; round < 3; round++) {
      // A new version of every input each round, so every datum has work to do.
      for (const f of fs.readdirSync(path.join(root, 'data/raw'))) fs.appendFileSync(path.join(root, 'data/raw', f), `round ${round}\n`);
      const before = snapshotTree(path.join(root, 'data'));
      takeRanLog(root);
      const p = spawnDv(root, ['run', '-j', '2'], { timeoutMs: 60_000 });
      expect(await waitFor(() => fs.existsSync(path.join(root, 'ran.log')) || p.exited(), 20_000)).toBe(true);
      await sleep(Math.floor(rnd.next() * 600));
      p.child.kill('SIGINT');
      const r = await p.done;
      if (r.code === 0) continue; // it finished first: nothing to check this round
      expect(r.code).toBe(130);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^dv: error: run [0-9a-f]{12} cancelled; (\d+) finished datum\(s\) kept in the run-cache, the next dv run resumes from them$/);
      const kept = Number(/; (\d+) finished/.exec(lines[0]!)![1]);
      // A datum logs "done" just before its shell exits: one that logged it but was
      // stopped before dv saw it exit is not finished, and the next run repeats it. At
      // -j 2 at most two are caught so; every other logged datum must be kept.
      const finished = takeRanLog(root);
      expect(kept).toBeLessThanOrEqual(finished.length);
      expect(kept).toBeGreaterThanOrEqual(finished.length - 2);
      cancelled++;
      expect(snapshotTree(path.join(root, 'data'))).toEqual(before);
      expect(fs.readdirSync(path.join(root, '.dv/tmp')).filter((n) => /^(job|undo|exp)-/.test(n))).toEqual([]);
      const runs = await dvJson<{ status: string; counts: { run: number } }[]>(root, ['runs', '--json', '-n', '1']);
      expect(runs[0]).toMatchObject({ status: 'cancelled', counts: { run: kept } });
      const fsck = await dvJson<{ ok: boolean; errors: string[] }>(root, ['fsck', '--json']);
      expect(fsck).toMatchObject({ ok: true, errors: [] });
      // The next run takes the finished datums from the run-cache and runs only the rest.
      const next = await dvJson<{ status: string; record: { stages: { counts: { run: number; cached: number } }[] } }>(root, ['run', '--json']);
      expect(next.status).toBe('succeeded');
      expect(next.record.stages[0]!.counts).toMatchObject({ run: 16 - kept, cached: kept });
      expect(takeRanLog(root)).toHaveLength(16 - kept);
    }
    expect(cancelled).toBeGreaterThan(0);
  }, 120_000);
});
