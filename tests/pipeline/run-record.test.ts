// Where a run's record goes: with no run hook, in the commit's own pack (one pack, one
// seal per run); and when what follows the commit fails (dv.lock cannot be written), a
// newer record saying so supersedes it, also once the index is rebuilt from the packs.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { dv, dvJson, dvOk, TempDirs, writeFile } from '../helpers/cli.js';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

const packs = (root: string): string[] =>
  fs.readdirSync(path.join(root, '.dv', 'packs'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);

interface Listed { id: string; status: string; commit: string | null }

describe('the run record', () => {
  it('is sealed with the commit, and superseded when the run fails after committing', async () => {
    const root = dirs.make('dv-run-record-');
    execFileSync('git', ['init', '-q', root]);
    for (const n of ['a', 'b', 'c']) writeFile(root, `data/raw/${n}.txt`, `${n}\n`);
    writeFile(root, 'dv.yaml', 'stages:\n  copy:\n    foreach: data/raw/*.txt\n    cmd: cp ${in} ${out}\n    outs: data/out/\n');
    await dvOk(root, ['init', '-q']);
    await dvOk(root, ['add', 'data/raw', '-q']);

    const before = packs(root);
    await dvOk(root, ['run', '-q']);
    const added = packs(root).filter((p) => !before.includes(p));
    expect(added).toHaveLength(1); // outputs, run-cache entries, trees, commit, state and record
    const [ok] = await dvJson<Listed[]>(root, ['runs', '--json', '-n', '1']);
    expect(ok!.status).toBe('succeeded');
    const head = JSON.parse(fs.readFileSync(path.join(root, 'dv.lock'), 'utf8')) as { commit: string };
    expect(ok!.commit).toBe(head.commit);

    // The commit lands, then dv.lock cannot be replaced (a directory is in its place): the run fails.
    fs.rmSync(path.join(root, 'dv.lock'));
    fs.mkdirSync(path.join(root, 'dv.lock', 'x'), { recursive: true });
    writeFile(root, 'data/raw/a.txt', 'a2\n');
    const r = await dv(root, ['run', '-q']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^dv: error: .*dv\.lock/m);
    const listed = async (): Promise<Listed[]> => dvJson<Listed[]>(root, ['runs', '--json']);
    const after = await listed();
    expect(after.map((x) => x.status)).toEqual(['failed', 'succeeded']);
    expect(after[0]!.commit).toMatch(/^[0-9a-f]{64}$/);

    // The index rebuilt from the packs (both records of that run are there): the later one counts.
    const db = new Database(path.join(root, '.dv', 'dv.db'));
    db.exec('DELETE FROM pipeline_runs; DELETE FROM pipeline_packs');
    db.close();
    expect(await listed()).toEqual(after);
  });
});
