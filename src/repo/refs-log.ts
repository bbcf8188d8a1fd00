// .dv/refs.log: an append-only text copy of every ref update, so branches, tags, HEAD and
// the reflog survive the loss of dv.db (whose index part is rebuilt from the packs, but
// whose refs no pack records). One JSON line per update, appended and fdatasync'ed in the
// same code path as the SQLite write (refs.ts), before its transaction commits: the log
// is never behind the database. Replaying the lines in order gives the refs, HEAD and the
// reflog; dv fsck --repair does that when dv.db lost them. dv gc compacts the file (one
// line per live ref, HEAD and reflog entry; written to a temp file, fsynced, renamed).
//   {"t":"<iso time>","ref":"heads/main","to":"<commit>"|null,"log":[[ref, old, new, message], ...]}
//   {"t":"<iso time>","head":"ref: heads/main"|"<commit>","log":[...]}
// `to: null` deletes the ref; `log` holds the reflog entries the update wrote (time `t`).
import fs from 'node:fs';
import path from 'node:path';
import { fsyncDir } from '../store/fsutil.js';
import { ops } from './opcount.js';

export type LogEntry = [ref: string, old: string | null, now: string | null, message: string];

export interface RefLogLine {
  t: string;
  ref?: string;
  to?: string | null;
  head?: string;
  log?: LogEntry[];
}

export interface RefLogState {
  refs: Map<string, string>;
  head: string | undefined;
  reflog: { ref: string; old: string | null; new: string | null; time: string; message: string }[];
  lines: number;
  /** Lines before the last that do not parse: the log itself is damaged (a torn last
   * write is not damage), so refs it lacks may be real. */
  damaged: number;
}

/** Appends lines and makes them durable, with one write and one fdatasync (Refs.batch
 * gives all the updates of one transaction). When the file does not exist yet (a
 * repository made before the log, or the file was removed), `seed` gives the current
 * state first. */
export function appendRefLog(file: string, lines: RefLogLine[], seed: () => RefLogLine[]): void {
  if (!fs.existsSync(file)) writeRefLog(file, seed());
  const fd = fs.openSync(file, 'a');
  try {
    fs.writeSync(fd, lines.map((l) => JSON.stringify(l) + '\n').join(''));
    fs.fdatasyncSync(fd);
    ops.refLogSyncs++;
  } finally {
    fs.closeSync(fd);
  }
}

/** Replaces the whole file (temp file, fsync, rename, fsync of the directory). */
export function writeRefLog(file: string, lines: RefLogLine[]): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, lines.map((l) => JSON.stringify(l) + '\n').join(''));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDir(path.dirname(file));
}

/** Replays the file; undefined when there is none. A line that does not parse (a torn
 * last write) is skipped, and counted as damage unless it is the last. */
export function readRefLog(file: string): RefLogState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const state: RefLogState = { refs: new Map(), head: undefined, reflog: [], lines: 0, damaged: 0 };
  const raws = text.split('\n');
  while (raws.length && raws[raws.length - 1] === '') raws.pop();
  for (const [n, raw] of raws.entries()) {
    let l: RefLogLine;
    try {
      l = JSON.parse(raw) as RefLogLine;
    } catch {
      if (n < raws.length - 1) state.damaged++;
      continue;
    }
    if (typeof l !== 'object' || l === null || typeof l.t !== 'string') { if (n < raws.length - 1) state.damaged++; continue; }
    state.lines++;
    if (typeof l.ref === 'string') {
      if (typeof l.to === 'string') state.refs.set(l.ref, l.to);
      else if (l.to === null) state.refs.delete(l.ref);
    }
    if (typeof l.head === 'string') state.head = l.head;
    for (const e of Array.isArray(l.log) ? l.log : []) {
      if (Array.isArray(e) && typeof e[0] === 'string' && typeof e[3] === 'string') {
        state.reflog.push({ ref: e[0], old: e[1] ?? null, new: e[2] ?? null, time: l.t, message: e[3] });
      }
    }
  }
  return state;
}
