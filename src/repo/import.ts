// dv import: a plain tar into DEST, tracked, all or nothing. Every entry is checked
// while it is extracted to a staging directory (unsafe paths, .dv/ and .git/, links,
// a name that is both a file and a directory), every name against DEST before
// anything moves, and a failure while moving or committing moves everything back.
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { DvError } from '../store/errors.js';
import { fsyncDir } from '../store/fsutil.js';
import type { Repo } from './repo.js';
import { add, type SnapshotResult } from './snapshot.js';
import { linkedParents } from './workspace.js';

/** A tar entry's path as dv would track it; refuses what could escape DEST and what dv
 * never tracks (a `.git/hooks/...` entry would otherwise land, executable, in DEST). */
function safeName(name: string): string {
  const parts = name.split('/').filter((s) => s && s !== '.');
  if (name.startsWith('/') || parts.includes('..') || parts.length === 0) throw new DvError(`tar entry '${name}' has an unsafe path; nothing was imported`);
  const hidden = parts.find((p) => p === '.dv' || p === '.git');
  if (hidden) throw new DvError(`tar entry '${name}' is under ${hidden}/, which dv never tracks; nothing was imported`);
  return parts.join('/');
}

/** The names an archive extracts to, with every conflict refused before anything moves:
 * a later duplicate replaces the earlier one (as tar does), and no name may be both a
 * file and a directory (`x` then `x/y`, in either order). */
class ArchiveNames {
  readonly files = new Set<string>();
  private dirs = new Set<string>();

  addDir(name: string, entry = name): void {
    for (const d of prefixes(name, true)) {
      if (this.files.has(d)) throw new DvError(`tar entry '${entry}' is inside '${d}', which the same archive has as a file; nothing was imported`);
      this.dirs.add(d);
    }
  }

  addFile(name: string): void {
    if (this.dirs.has(name)) throw new DvError(`tar entry '${name}' is a file, but the same archive also has it as a directory; nothing was imported`);
    this.addDir(path.posix.dirname(name) === '.' ? '' : path.posix.dirname(name), name);
    this.files.add(name);
  }
}

/** `a`, `a/b`, `a/b/c` for 'a/b/c' (without the last when `self` is false). */
function prefixes(name: string, self: boolean): string[] {
  if (!name) return [];
  const parts = name.split('/');
  return parts.slice(0, self ? parts.length : parts.length - 1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** Moves staged files into DEST; undo() puts everything back as it was. */
class Placement {
  private moved: string[] = [];
  private backups: [string, string][] = [];
  private made: string[] = [];

  constructor(private stage: string, private destAbs: string) {}

  /** Refuses, before anything moves, names that would need a directory where a file is
   * (or the reverse), and, without `force`, names that would overwrite a file. */
  check(names: string[], force: boolean, dest: string): void {
    const clashes: string[] = [];
    for (const n of names) {
      for (const d of [...prefixes(n, false)].map((p) => path.join(this.destAbs, p))) {
        const st = fs.lstatSync(d, { throwIfNoEntry: false });
        if (st && !st.isDirectory()) throw new DvError(`import needs ${path.relative(path.dirname(this.destAbs), d)} to be a directory, but it is a file; nothing was imported`);
      }
      const st = fs.lstatSync(path.join(this.destAbs, n), { throwIfNoEntry: false });
      if (st?.isDirectory()) throw new DvError(`import would replace the directory ${dest}/${n} with a file; nothing was imported`);
      if (st) clashes.push(n);
    }
    if (clashes.length && !force) {
      throw new DvError(`import would overwrite ${clashes.length} existing file(s) in ${dest} (${clashes.slice(0, 3).join(', ')}); use --force`);
    }
  }

  place(names: string[]): void {
    const backupDir = path.join(this.stage, '.replaced');
    for (const [i, n] of names.entries()) {
      const to = path.join(this.destAbs, n);
      this.mkdirs(path.dirname(to));
      const fd = fs.openSync(path.join(this.stage, 'files', n), 'r');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      if (fs.existsSync(to)) {
        const keep = path.join(backupDir, String(i));
        fs.mkdirSync(backupDir, { recursive: true });
        fs.renameSync(to, keep);
        this.backups.push([keep, to]);
      }
      fs.renameSync(path.join(this.stage, 'files', n), to);
      this.moved.push(to);
    }
    fsyncDir(this.destAbs);
  }

  private mkdirs(dir: string): void {
    if (fs.existsSync(dir)) return;
    this.mkdirs(path.dirname(dir));
    fs.mkdirSync(dir);
    this.made.push(dir);
  }

  undo(): void {
    for (const f of this.moved.reverse()) fs.rmSync(f, { force: true });
    for (const [keep, to] of this.backups.reverse()) fs.renameSync(keep, to);
    for (const d of this.made.reverse()) fs.rmSync(d, { recursive: true, force: true });
  }
}

/**
 * All or nothing: the tar is extracted into a staging directory first and every name is
 * checked there, so a truncated or malformed tar, a refused entry or a clash with DEST
 * changes nothing in the workspace; files then move into DEST, and if that or the commit
 * fails, they move back out.
 */
export async function importTar(repo: Repo, file: string, dest: string, opts: { force?: boolean; message?: string } = {}): Promise<SnapshotResult> {
  if (!fs.existsSync(file)) throw new DvError(`no such file: ${file}`);
  if (dest === '') throw new DvError('give a destination directory inside the project', 2);
  const destAbs = path.resolve(repo.root, dest);
  const rel = path.relative(repo.root, destAbs);
  if (!rel || rel.startsWith('..') || path.isAbsolute(rel) || rel.split(path.sep).some((p) => p === '.dv' || p === '.git')) {
    throw new DvError(`import destination '${dest}' must be a directory inside the project, outside .dv/ and .git/`, 2);
  }
  const links = linkedParents(repo.root, [`${rel.split(path.sep).join('/')}/x`]);
  if (links.size) {
    const [dir, to] = links.entries().next().value as [string, string];
    throw new DvError(`'${dir}' is a symbolic link (to ${to}): dv never writes through a link; import into a real directory`);
  }
  const stage = fs.mkdtempSync(path.join(repo.dvDir, 'tmp', `import-${process.pid}-`));
  const names = new ArchiveNames();
  const placement = new Placement(stage, destAbs);
  try {
    const extract = tar.extract();
    extract.on('entry', (header, stream, next) => {
      // Rejecting an entry destroys the extractor, which destroys this entry stream with the
      // same error; the pipeline below reports it, so an unheard 'error' must not crash.
      stream.on('error', () => {});
      const refuse = (e: Error) => { stream.resume(); next(e); };
      if (header.type !== 'directory' && header.type !== 'file') {
        refuse(new DvError(`tar entry '${header.name}' is a ${header.type}; only files and directories can be imported`));
        return;
      }
      let name: string;
      try {
        name = safeName(header.name);
        if (header.type === 'directory') { names.addDir(name); stream.resume(); next(); return; }
        names.addFile(name);
      } catch (e) { refuse(e as Error); return; }
      const target = path.join(stage, 'files', name);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.rmSync(target, { force: true }); // a duplicate replaces the earlier entry, mode included
      pipeline(stream, fs.createWriteStream(target, { mode: (header.mode ?? 0o644) & 0o111 ? 0o755 : 0o644 }))
        .then(() => next(), next);
    });
    try {
      await pipeline(fs.createReadStream(file), extract);
    } catch (e) {
      if (e instanceof DvError) throw e;
      throw new DvError(`cannot read ${file}: ${(e as Error).message || 'truncated or not a tar archive'}`);
    }
    const list = [...names.files].sort();
    placement.check(list, !!opts.force, dest);
    try {
      placement.place(list);
      fs.mkdirSync(destAbs, { recursive: true });
      return await add(repo, [rel.split(path.sep).join('/')], { message: opts.message ?? `import ${path.basename(file)}` });
    } catch (e) {
      placement.undo();
      throw e;
    }
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}
