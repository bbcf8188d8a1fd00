// Hostile inputs and damage through the real CLI: tar archives dv must refuse whole or
// import whole, a file name that is not UTF-8, names with newlines in `dv ls`, damaged
// index rows (fsck names them by kind, errors stay printable and one line, --repair
// fixes them), leftovers of killed commands, and a repair that lost data and gets it
// back once the file is put back.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRun, dv, dvJson, dvOk, ensureBuilt, listFiles, randomBytes, TempDirs, writeFile, type RunResult } from '../helpers/cli.js';

const tmp = new TempDirs();
afterAll(() => tmp.cleanup());
beforeAll(() => ensureBuilt());

function oneErrorLine(args: string[], r: RunResult, message: RegExp): string {
  const why = describeRun(args, r);
  expect(r.code, why).toBe(1);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, why).toHaveLength(1);
  expect(lines[0], why).toMatch(/^dv: error: [\x20-\x7e]+$/);
  expect(lines[0], why).toMatch(message);
  return lines[0];
}

async function failing(cwd: string, args: string[], message: RegExp): Promise<string> {
  return oneErrorLine(args, await dv(cwd, args), message);
}

async function makeTar(file: string, entries: { name: string; data?: string; mode?: number; type?: 'file' | 'directory' }[]): Promise<void> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory' });
    else pack.entry({ name: e.name, mode: e.mode ?? 0o644 }, e.data ?? '');
  }
  pack.finalize();
  const parts: Buffer[] = [];
  for await (const c of pack) parts.push(c as Buffer);
  fs.writeFileSync(file, Buffer.concat(parts));
}

async function project(): Promise<string> {
  const p = tmp.make('dv-integrity-');
  await dvOk(p, ['init', '-q']);
  writeFile(p, 'data/a.txt', 'a\n');
  await dvOk(p, ['add', 'data', '-q']);
  return p;
}

async function commits(p: string): Promise<number> {
  return (await dvJson<unknown[]>(p, ['log', '--json'])).length;
}

describe('dv import: all or nothing', () => {
  it('refuses x then x/y, x/y then x, and .dv/ or .git/ entries, with one line and no change', async () => {
    const p = await project();
    const cases: [string, Parameters<typeof makeTar>[1], RegExp][] = [
      ['xy.tar', [{ name: 'x', data: '1' }, { name: 'x/y', data: '2' }], /tar entry 'x\/y' is inside 'x', which the same archive has as a file/],
      ['yx.tar', [{ name: 'x/y', data: '2' }, { name: 'x', data: '1' }], /tar entry 'x' is a file, but the same archive also has it as a directory/],
      ['git.tar', [{ name: 'ok.txt', data: '1' }, { name: '.git/hooks/post-checkout', data: '#!/bin/sh\ntouch pwned\n', mode: 0o755 }], /'\.git\/hooks\/post-checkout' is under \.git\/, which dv never tracks/],
      ['dv.tar', [{ name: 'sub/.dv/config.json', data: '{}' }], /under \.dv\//],
    ];
    for (const [name, entries, message] of cases) {
      await makeTar(path.join(p, name), entries);
      await failing(p, ['import', name, 'in'], message);
      expect(fs.existsSync(path.join(p, 'in')), name).toBe(false);
    }
    expect(await commits(p)).toBe(1);
    expect(fs.readdirSync(path.join(p, '.dv', 'tmp'))).toEqual([]);
    expect((await dv(p, ['status'])).code).toBe(0);
  });

  it('a duplicated entry replaces the earlier one (as tar does) and the import commits', async () => {
    const p = await project();
    await makeTar(path.join(p, 'dup.tar'), [{ name: 'f', data: 'first', mode: 0o755 }, { name: 'g', data: 'g' }, { name: 'f', data: 'second' }]);
    await dvOk(p, ['import', 'dup.tar', 'in', '-q']);
    expect(fs.readFileSync(path.join(p, 'in/f'), 'utf8')).toBe('second');
    expect(fs.statSync(path.join(p, 'in/f')).mode & 0o111).toBe(0);
    expect((await dvOk(p, ['cat', 'HEAD:in/f'])).stdout).toBe('second');
    expect(await commits(p)).toBe(2);
  });

  it('refuses, before moving anything, names that need a directory where DEST has a file', async () => {
    const p = await project();
    writeFile(p, 'in/keep.txt', 'mine');
    writeFile(p, 'in/sub', 'a file where the archive needs a directory');
    await makeTar(path.join(p, 't.tar'), [{ name: 'aaa', data: '1' }, { name: 'sub/y', data: '2' }]);
    await failing(p, ['import', 't.tar', 'in', '--force'], /needs in\/sub to be a directory/);
    expect(listFiles(path.join(p, 'in'))).toEqual(['keep.txt', 'sub']);
    expect(await commits(p)).toBe(1);
  });
});

describe('file names', () => {
  it('a name that is not UTF-8 is refused with one line naming it, by both scanners; nothing is committed', async () => {
    const p = await project();
    fs.writeFileSync(Buffer.from(path.join(p, 'data/bad\xff.bin'), 'latin1'), 'x');
    writeFile(p, 'data/b.txt', 'b\n');
    for (const native of ['1', '0']) {
      const r = await dv(p, ['commit', '-m', 'two'], { env: { DV_NATIVE: native === '0' ? '0' : undefined } });
      oneErrorLine(['commit'], r, /data\/bad\\xff\.bin: file name is not valid UTF-8/);
    }
    expect(await commits(p)).toBe(1);
  });

  it('dv ls quotes names with newlines, quotes and backslashes as git does', async () => {
    const p = await project();
    writeFile(p, 'data/new\nline', 'n');
    writeFile(p, 'data/q"uote\\', 'q');
    await dvOk(p, ['commit', '-q', '-m', 'odd names']);
    const out = (await dvOk(p, ['ls', '-r', 'HEAD:data'])).stdout.trimEnd().split('\n');
    expect(out).toHaveLength(3);
    expect(out.map((l) => l.replace(/^.*? [0-9a-f]{12} /, ''))).toEqual(['data/a.txt', '"data/new\\nline"', '"data/q\\"uote\\\\"']);
    // JSON keeps the names as they are.
    expect((await dvJson<{ path: string }[]>(p, ['ls', '-r', 'HEAD:data', '--json'])).map((e) => e.path)).toContain('data/new\nline');
  });
});

describe('damaged index rows', () => {
  async function withChunk() {
    const p = tmp.make('dv-rows-');
    await dvOk(p, ['init', '-q']);
    writeFile(p, 'data/big.bin', randomBytes(300_000, 'rows'));
    await dvOk(p, ['add', 'data', '-q']);
    const db = new Database(path.join(p, '.dv', 'dv.db'));
    const chunk = db.prepare('SELECT id FROM blobs WHERE type = 1 LIMIT 1').pluck().get() as Buffer;
    return { p, db, chunk };
  }

  it('a row naming a pack that does not exist: fsck names it by kind, cat fails, --repair fixes it', async () => {
    const { p, db, chunk } = await withChunk();
    db.prepare('UPDATE blobs SET pack = ? WHERE id = ?').run('f'.repeat(64), chunk);
    db.close();
    const f = await dv(p, ['fsck', '--json']);
    expect(f.code).toBe(1);
    const kinds = Object.keys(JSON.parse(f.stdout).problems).sort();
    expect(kinds).toEqual(['damaged-file', 'object', 'pack']);
    await failing(p, ['cat', 'HEAD:data/big.bin'], /pack f{64} is missing/);
    const r = await dvJson<{ fsck: { ok: boolean }; lostFiles: unknown[] }>(p, ['fsck', '--repair', '--json']);
    expect(r.fsck.ok).toBe(true);
    expect(r.lostFiles).toEqual([]);
    expect((await dvOk(p, ['cat', 'HEAD:data/big.bin'])).stdoutBytes.equals(randomBytes(300_000, 'rows'))).toBe(true);
  });

  it('raw bytes in a damaged row never reach the terminal: errors stay printable and one line', async () => {
    const { p, db, chunk } = await withChunk();
    db.prepare('UPDATE blobs SET pack = ? WHERE id = ?').run('ab\ncd\x1b[31m\x07\u0085zz', chunk);
    db.close();
    await failing(p, ['cat', 'HEAD:data/big.bin'], /invalid id/);
    const f = await dv(p, ['fsck']);
    expect(f.code).toBe(1);
    expect(f.stdout).toMatch(/index row\(s\) name an invalid pack id 'ab\\x0acd\\x1b\[31m\\x07\\x85zz'/);
    expect(f.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
    await dvOk(p, ['fsck', '--repair', '-q']);
    await dvOk(p, ['fsck', '-q']);
  });
});

describe('leftovers and lost data', () => {
  it('dv gc removes at once temp files of processes that are gone, keeps those of live ones', async () => {
    const p = await project();
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
    const tmpDir = path.join(p, '.dv', 'tmp');
    fs.writeFileSync(path.join(tmpDir, `pack-${dead}-aaaaaaaaaaaa.tmp`), 'half a pack');
    fs.writeFileSync(path.join(tmpDir, `fetch-0123456789abcdef-${dead}-bbbbbbbb.tmp`), 'half a download');
    fs.mkdirSync(path.join(tmpDir, `import-${dead}-Xy12ab`));
    fs.writeFileSync(path.join(tmpDir, `pack-${process.pid}-cccccccccccc.tmp`), 'being written');
    expect((await dvJson<{ warnings: string[] }>(p, ['fsck', '--json'])).warnings.join()).toMatch(/4 temporary file/);
    await dvOk(p, ['gc', '-q']);
    expect(fs.readdirSync(tmpDir)).toEqual([`pack-${process.pid}-cccccccccccc.tmp`]);
  });

  it('repair names the files it could not restore; once the file is put back, repair restores it', async () => {
    const p = tmp.make('dv-lost-');
    await dvOk(p, ['init', '-q']);
    const bytes = randomBytes(400_000, 'lost');
    writeFile(p, 'data/victim.bin', bytes);
    writeFile(p, 'data/ok.txt', 'ok\n');
    await dvOk(p, ['add', 'data', '-q']);
    const db = new Database(path.join(p, '.dv', 'dv.db'), { readonly: true });
    const row = db.prepare('SELECT pack, offset, length FROM blobs WHERE type = 1 ORDER BY length DESC LIMIT 1').get() as { pack: string; offset: number; length: number };
    db.close();
    const pack = path.join(p, '.dv', 'packs', row.pack.slice(0, 2), `${row.pack}.pack`);
    const fd = fs.openSync(pack, 'r+');
    fs.writeSync(fd, Buffer.from([0xee]), 0, 1, row.offset + 7);
    fs.closeSync(fd);
    fs.rmSync(path.join(p, 'data/victim.bin'));

    const r = await dv(p, ['fsck', '--repair']);
    oneErrorLine(['fsck', '--repair'], r, /repair left \d+ problem/);
    expect(r.stdout).toMatch(/set aside damaged pack [0-9a-f]{64} in .*lost\+found/);
    expect(r.stdout).toMatch(/^lost: data\/victim\.bin \(commit [0-9a-f]{12}\)$/m);
    expect(r.stdout).not.toMatch(/lost: data\/ok\.txt/);
    expect(fs.readdirSync(path.join(p, '.dv', 'lost+found'))).toEqual([`${row.pack}.pack`]);

    writeFile(p, 'data/victim.bin', bytes);
    const again = await dvOk(p, ['fsck', '--repair']);
    expect(again.stdout).toMatch(/restored data\/victim\.bin from the workspace copy/);
    expect(again.stdout).toMatch(/^ok: /m);
    fs.rmSync(path.join(p, 'data'), { recursive: true });
    await dvOk(p, ['checkout', 'main', '--force', '-q']);
    expect(fs.readFileSync(path.join(p, 'data/victim.bin')).equals(bytes)).toBe(true);
  });
});
