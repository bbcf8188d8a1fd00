// A run changes the workspace stage by stage (downstream commands read upstream
// outputs there), yet a run that fails must leave it as it found it. Every path a run
// is about to replace or delete is first moved aside, once, into a directory under
// .dv/tmp (same filesystem: a rename); a failed run moves it all back, a committed
// run throws it away. Each move is logged first (`<dir>.journal`: one JSON line per
// path), so when a run is killed outright (SIGKILL, power loss) the next run, holding
// the lock, replays the log backwards and the workspace is as that run found it.
import fs from 'node:fs';
import path from 'node:path';
import { DISCARDED } from '../store/maintenance.js';

export class WorkspaceUndo {
  /** Project-relative path -> where its previous content waits (null: it did not exist). */
  private saved = new Map<string, string | null>();
  /** The journal, open for appending while the run goes on (one open per run, not per path). */
  private fd: number | null = null;
  /** Directories made under `dir` (a path is set aside per datum: two system calls each saved). */
  private made = new Set<string>();

  constructor(private readonly root: string, private readonly dir: string) {}

  private get journal(): string {
    return `${this.dir}.journal`;
  }

  /**
   * Call before replacing or deleting `rel`; moves what is there now aside (`copy`:
   * copies it, for a command that updates its output rather than recreating it).
   */
  setAside(rel: string, copy = false): void {
    if (this.has(rel)) return;
    const abs = path.join(this.root, rel);
    let kept: string | null = null;
    const exists = fs.lstatSync(abs, { throwIfNoEntry: false }) !== undefined;
    if (this.saved.size === 0) fs.mkdirSync(path.dirname(this.dir), { recursive: true });
    this.fd ??= fs.openSync(this.journal, 'a');
    fs.writeSync(this.fd, JSON.stringify([rel, exists]) + '\n');
    if (exists) {
      kept = path.join(this.dir, rel);
      if (!this.made.has(path.dirname(kept))) fs.mkdirSync(path.dirname(kept), { recursive: true });
      this.made.add(path.dirname(kept));
      if (copy) fs.cpSync(abs, kept, { recursive: true, mode: fs.constants.COPYFILE_FICLONE });
      else fs.renameSync(abs, kept);
    }
    this.saved.set(rel, kept);
  }

  /** Whether `rel`, or a directory holding it, was set aside. */
  has(rel: string): boolean {
    if (this.saved.has(rel)) return true;
    for (let i = rel.lastIndexOf('/'); i > 0; i = rel.lastIndexOf('/', i - 1)) if (this.saved.has(rel.slice(0, i))) return true;
    return false;
  }

  /** Puts every set-aside path back as it was; directories the run created and left empty go. */
  rollback(): void {
    for (const [rel, kept] of [...this.saved].reverse()) {
      const abs = path.join(this.root, rel);
      fs.rmSync(abs, { recursive: true, force: true });
      if (kept) {
        fs.mkdirSync(path.dirname(abs), { recursive: true });
        fs.renameSync(kept, abs);
      } else {
        for (let d = path.dirname(abs); d.startsWith(this.root + path.sep); d = path.dirname(d)) {
          try { fs.rmdirSync(d); } catch { break; } // not empty (or gone): stop climbing
        }
      }
    }
    this.saved.clear();
    this.made.clear();
    this.closeJournal();
    fs.rmSync(this.journal, { force: true });
    fs.rmSync(this.dir, { recursive: true, force: true }); // what is left: empty directories
  }

  private closeJournal(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  /**
   * Drops the set-aside copies (the run's result was committed): the journal goes, and
   * the directory is renamed to `<dir>.discarded` for the next run's sweep to delete
   * while that run works (deleting files is slow on ext4; nobody waits for it here).
   */
  discard(): void {
    this.saved.clear();
    this.made.clear();
    this.closeJournal();
    fs.rmSync(this.journal, { force: true });
    try {
      fs.renameSync(this.dir, `${this.dir}${DISCARDED}`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // nothing was set aside
    }
  }

  /** Deletes what earlier runs discarded under `tmpDir`. */
  static async sweep(tmpDir: string): Promise<void> {
    const names = await fs.promises.readdir(tmpDir).catch(() => [] as string[]);
    await Promise.all(names.filter((n) => n.endsWith(DISCARDED)).map((n) => fs.promises.rm(path.join(tmpDir, n), { recursive: true, force: true })));
  }

  /**
   * Puts back what runs that died left set aside under `tmpDir` (their journals say
   * what). Call with the repository lock held, before a new run changes anything.
   */
  static recover(root: string, tmpDir: string): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(tmpDir).filter((n) => /^undo-[0-9a-f]+\.journal$/.test(n));
    } catch {
      return [];
    }
    const restored: string[] = [];
    for (const n of names) {
      const dir = path.join(tmpDir, n.slice(0, -'.journal'.length));
      const u = new WorkspaceUndo(root, dir);
      for (const line of fs.readFileSync(path.join(tmpDir, n), 'utf8').split('\n')) {
        try {
          const [rel, existed] = JSON.parse(line) as [string, boolean];
          if (u.saved.has(rel)) continue;
          // Logged before the move: if the copy is not there yet, the original never left.
          const kept = path.join(dir, rel);
          if (existed && !fs.existsSync(kept)) continue;
          u.saved.set(rel, existed ? kept : null);
          restored.push(rel);
        } catch { /* the line being written when the run died */ }
      }
      u.rollback();
    }
    return restored;
  }
}
