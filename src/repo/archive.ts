// dv export / dv import: plain tar out and in, so data is never locked into dv.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { DvError } from '../store/errors.js';
import { fsyncDir } from '../store/fsutil.js';
import { readRange } from './fileio.js';
import { parseRefPath } from './read.js';
import type { Repo } from './repo.js';
import { add, type SnapshotResult } from './snapshot.js';
import type { WalkItem } from './types.js';

export interface ExportResult {
  commit: string;
  files: number;
  bytes: number;
}

/** Entries are named relative to the exported path, so export + import round-trips. */
export async function exportTar(repo: Repo, spec: string, outFile: string): Promise<ExportResult> {
  const { ref, path: sub } = parseRefPath(spec);
  const commit = await repo.resolve(ref);
  const time = new Date((await repo.readCommit(commit)).time);
  const entry = await repo.lookup(commit, sub);
  if (!entry) throw new DvError(`'${sub}' does not exist in ${ref}`);
  const items: WalkItem[] = [];
  if (entry.type === 'file') items.push({ path: path.posix.basename(sub), entry });
  else for await (const it of repo.walk(commit, sub ? `${sub}/` : '')) items.push({ path: sub ? it.path.slice(sub.length + 1) : it.path, entry: it.entry });

  const tmp = `${outFile}.dvtmp-${crypto.randomBytes(4).toString('hex')}`;
  const pack = tar.pack();
  const out = fs.createWriteStream(tmp);
  const done = pipeline(pack, out);
  let bytes = 0;
  try {
    for (const { path: name, entry: e } of items) {
      const w = pack.entry({ name, size: e.size, mode: e.mode, mtime: time, type: 'file' });
      await pipeline(readRange(repo.blobs, e), w);
      bytes += e.size;
    }
    pack.finalize();
    await done;
    const fd = fs.openSync(tmp, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, outFile);
  } catch (e) {
    pack.destroy();
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  return { commit, files: items.length, bytes };
}

function safeName(name: string): string {
  const parts = name.split('/').filter((s) => s && s !== '.');
  if (name.startsWith('/') || parts.includes('..') || parts.length === 0) throw new DvError(`tar entry '${name}' has an unsafe path`);
  return parts.join('/');
}

/**
 * Extracts into a staging directory first: a truncated or malformed tar changes
 * nothing in the workspace. Then moves files into DEST and tracks DEST.
 */
export async function importTar(repo: Repo, file: string, dest: string, opts: { force?: boolean; message?: string } = {}): Promise<SnapshotResult> {
  if (!fs.existsSync(file)) throw new DvError(`no such file: ${file}`);
  if (dest === '') throw new DvError('give a destination directory inside the project', 2);
  const stage = fs.mkdtempSync(path.join(repo.dvDir, 'tmp', `import-${process.pid}-`));
  const names: string[] = [];
  try {
    const extract = tar.extract();
    extract.on('entry', (header, stream, next) => {
      // Rejecting an entry destroys the extractor, which destroys this entry stream with the
      // same error; the pipeline below reports it, so an unheard 'error' must not crash.
      stream.on('error', () => {});
      if (header.type === 'directory') { stream.resume(); next(); return; }
      if (header.type !== 'file') { stream.resume(); next(new DvError(`tar entry '${header.name}' is a ${header.type}; only files and directories can be imported`)); return; }
      let name: string;
      try { name = safeName(header.name); } catch (e) { stream.resume(); next(e as Error); return; }
      const target = path.join(stage, name);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      names.push(name);
      pipeline(stream, fs.createWriteStream(target, { mode: (header.mode ?? 0o644) & 0o111 ? 0o755 : 0o644 }))
        .then(() => next(), next);
    });
    try {
      await pipeline(fs.createReadStream(file), extract);
    } catch (e) {
      if (e instanceof DvError) throw e;
      throw new DvError(`cannot read ${file}: ${(e as Error).message || 'truncated or not a tar archive'}`);
    }
    const destAbs = path.join(repo.root, dest);
    const clashes = names.filter((n) => fs.existsSync(path.join(destAbs, n)));
    if (clashes.length && !opts.force) {
      throw new DvError(`import would overwrite ${clashes.length} existing file(s) in ${dest} (${clashes.slice(0, 3).join(', ')}); use --force`);
    }
    for (const n of names) {
      const to = path.join(destAbs, n);
      fs.mkdirSync(path.dirname(to), { recursive: true });
      const fd = fs.openSync(path.join(stage, n), 'r');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fs.renameSync(path.join(stage, n), to);
    }
    fsyncDir(destAbs);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
  if (!fs.existsSync(path.join(repo.root, dest))) fs.mkdirSync(path.join(repo.root, dest), { recursive: true });
  return add(repo, [dest], { message: opts.message ?? `import ${path.basename(file)}` });
}
