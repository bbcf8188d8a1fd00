// The workspace as one run sees and changes it. Stages run one after another in the
// project directory (downstream commands read upstream outputs there, and commands
// may write their outputs in place, as DVC's do), so the run keeps, in one place:
// the content hash of every file it knows, the stored content of what it placed or
// deleted (for the commit), the stat of every file (to find commands that write what
// their stage reads, outside the declared outs), and the undo log that puts the workspace back when nothing is
// committed.
import fs from 'node:fs';
import path from 'node:path';
import { fileMode, type StatCache, type WsFile } from '../repo/workspace.js';
import type { StoredOutput } from './stage-run.js';
import { WorkspaceUndo } from './undo.js';

export class RunWorkspace {
  /** Current content of every known workspace path; updated as outputs land. */
  readonly files: Map<string, string>;
  /** Stored content of workspace paths the run placed (null = deleted), for the commit. */
  readonly contents = new Map<string, StoredOutput | null>();
  /** Work left running in the background; awaited before the run returns. */
  readonly cleanup: Promise<unknown>[] = [];
  readonly undo: WorkspaceUndo;
  /** Stat of every file under the scanned roots, as the run last left it. */
  private readonly stats: Map<string, WsFile>;

  constructor(readonly root: string, undoDir: string, readonly roots: string[], files: Map<string, string>,
    stats: Map<string, WsFile>, readonly statCache: StatCache) {
    this.files = files;
    // The scan's own map, not a copy (20,000 entries on a large pipeline): the run only
    // changes paths it placed or deleted, which the commit takes from `contents`.
    this.stats = stats;
    this.undo = new WorkspaceUndo(root, undoDir);
  }

  /** Moves what is at `rel` aside (once per run); `copy` keeps it in place too (persist outs). */
  setAside(rel: string, copy = false): void {
    this.undo.setAside(rel, copy);
  }

  /** `rel` was deleted by the run. */
  deleted(rel: string): void {
    this.files.delete(rel);
    this.contents.set(rel, null);
    this.stats.delete(rel);
  }

  /** An output now sits at `rel` with this stored content. */
  placed(rel: string, stored: StoredOutput): void {
    const st = fs.statSync(path.join(this.root, rel));
    const file: WsFile = { path: rel, size: st.size, mtime: st.mtimeMs, ino: st.ino, mode: fileMode(st.mode) };
    this.files.set(rel, stored.hash);
    this.contents.set(rel, stored);
    this.stats.set(rel, file);
    this.statCache.record([{ file, hash: stored.hash }]);
  }

  /**
   * What a stage reads, to check after its commands ran: every file under its deps
   * and the given inputs (stat each), and the directories holding them (a new file
   * changes its directory's mtime). Costs what the stage reads, not the workspace.
   */
  watch(deps: string[], inputs: string[]): ReadWatch {
    const files = new Set<string>(inputs);
    const dirs = new Set<string>();
    const dirOf = (p: string): string => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
    for (const d of deps) {
      if (this.stats.has(d)) files.add(d);
      else {
        dirs.add(d);
        for (const p of this.stats.keys()) if (p.startsWith(d + '/')) { files.add(p); dirs.add(dirOf(p)); }
      }
    }
    for (const i of inputs) dirs.add(dirOf(i));
    const mtimes = new Map<string, number | null>();
    for (const d of dirs) mtimes.set(d, fs.statSync(path.join(this.root, d), { throwIfNoEntry: false })?.mtimeMs ?? null);
    return { files: [...files], dirs: mtimes };
  }

  /**
   * Files of a watch that the commands changed, created or deleted, other than those
   * `allowed` says the stage may write (its outs) or that the run set aside.
   */
  strayWrites(w: ReadWatch, allowed: (rel: string) => boolean): string[] {
    const stray = new Set<string>();
    for (const p of w.files) {
      if (allowed(p) || this.undo.has(p)) continue;
      const b = this.stats.get(p);
      const st = fs.lstatSync(path.join(this.root, p), { throwIfNoEntry: false });
      if (!st || !b) { if (st || b) stray.add(p); continue; }
      if (st.size !== b.size || st.mtimeMs !== b.mtime || st.ino !== b.ino || fileMode(st.mode) !== b.mode) stray.add(p);
    }
    for (const [d, before] of w.dirs) {
      const abs = path.join(this.root, d);
      const now = fs.statSync(abs, { throwIfNoEntry: false })?.mtimeMs ?? null;
      if (now === before || now === null) continue;
      for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
        const rel = d ? `${d}/${e.name}` : e.name;
        if (e.isFile() && !this.stats.has(rel) && !allowed(rel) && !this.undo.has(rel)) stray.add(rel);
      }
    }
    return [...stray].sort();
  }
}

export interface ReadWatch {
  files: string[];
  /** Directory -> mtime before the commands ran (null: it did not exist). */
  dirs: Map<string, number | null>;
}
