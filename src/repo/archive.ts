// dv export: a version as a plain tar, so data is never locked into dv (dv import,
// the way back in, is src/repo/import.ts).
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { DvError } from '../store/errors.js';
import { readRange } from './fileio.js';
import { parseRefPath } from './read.js';
import type { Repo } from './repo.js';
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

export { importTar } from './import.js';
