// The workspace as one run sees and changes it. Stages run one after another in the
// project directory (downstream commands read upstream outputs there, and commands
// may write their outputs in place, as DVC's do), so the run keeps, in one place:
// the content hash of every file it knows, the stored content of what it placed or
// deleted (for the commit), the stat of every file (to find writes outside the
// declared outs), and the undo log that puts the workspace back when nothing is
// committed.
import fs from 'node:fs';
import path from 'node:path';
import { fileMode, scanWorkspace, type StatCache, type WsFile } from '../repo/workspace.js';
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
    this.stats = new Map(stats);
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
   * Files under the scanned roots that changed since the run last looked, other than
   * those `allowed` says a stage may write (its outs) or that the run set aside:
   * writes a command made outside its declared outputs.
   */
  async strayWrites(allowed: (rel: string) => boolean): Promise<string[]> {
    const now = await scanWorkspace(this.root, this.roots, this.stats.size);
    const stray: string[] = [];
    const seen = new Set<string>();
    for (const f of now) {
      seen.add(f.path);
      const b = this.stats.get(f.path);
      const same = b && b.size === f.size && b.mtime === f.mtime && b.ino === f.ino && b.mode === f.mode;
      if (!same && !allowed(f.path)) stray.push(f.path);
    }
    for (const p of this.stats.keys()) {
      if (!seen.has(p) && !allowed(p) && !this.undo.has(p)) stray.push(p);
    }
    return stray.sort();
  }
}
