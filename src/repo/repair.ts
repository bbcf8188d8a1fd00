// dv fsck --repair (and dv fetch --repair): rebuild the index from the packs, set damaged
// packs aside (src/store/rebuild.ts), then bring back what was lost from where it still
// exists: a workspace file whose bytes hash to the recorded checksum is chunked and
// stored again, and with a remote every pack we no longer have is fetched. What is
// still lost after that is reported per version and file, and the stat cache forgets
// those files, so a later `dv add` stores them again instead of trusting the cache.
// Refs, HEAD and the reflog, which no pack records, come back from .dv/refs.log
// (refs-log.ts) wherever dv.db lost or damaged them.
import fs from 'node:fs';
import path from 'node:path';
import { clearTmp } from '../store/maintenance.js';
import { rebuildIndex, type SetAside } from '../store/rebuild.js';
import { damagedFiles, fsck, type FsckResult } from './fsck.js';
import { markReachable, rootIds } from './reachable.js';
import { checkRefName } from './refs.js';
import { readRefLog } from './refs-log.js';
import { BlobType } from '../store/packfile.js';
import type { Repo } from './repo.js';
import { StatCache } from './workspace.js';
import type { OnProgress } from './remote/progress.js';

export interface RepairOptions {
  /** Also fetch from this remote what is damaged or missing here. */
  remote?: string;
  onProgress?: OnProgress;
}

export interface LostFile {
  path: string;
  commit: string;
}

export interface RepairResult {
  packs: number;
  objects: number;
  setAside: SetAside[];
  salvaged: number;
  /** Refs (and `HEAD`, `reflog`) put back from .dv/refs.log. */
  refsRestored: string[];
  /** Where an unreadable dv.db was moved before it was rebuilt (repair-open.ts), or null. */
  databaseSetAside: string | null;
  /** Files whose lost chunks came back from the workspace copy. */
  restoredFromWorkspace: string[];
  fetched: { remote: string; packs: number; bytes: number } | null;
  /** Versions (commit ids) that still lack data, and the files and directories concerned. */
  lostVersions: string[];
  lostFiles: LostFile[];
  /** The check after the repair. */
  fsck: FsckResult;
}

export async function repair(repo: Repo, opts: RepairOptions = {}): Promise<RepairResult> {
  return repo.withLock('fsck --repair', async () => {
    clearTmp(repo.blobs);
    const rebuilt = await rebuildIndex(repo.blobs, path.join(repo.dvDir, 'lost+found'));
    const refsRestored = restoreRefs(repo);
    const restored = await restoreFromWorkspace(repo);
    let fetched: RepairResult['fetched'] = null;
    if (opts.remote !== undefined) {
      const { fetch } = await import('./remote/fetch.js');
      const r = await fetch(repo, { remote: opts.remote || undefined, onProgress: opts.onProgress });
      fetched = { remote: r.remote, packs: r.packsFetched, bytes: r.bytesFetched };
    }
    const lost = await lostFiles(repo);
    const hashes = new Set<string>();
    for (const f of lost) {
      const e = await repo.lookup(f.commit, f.path).catch(() => null);
      if (e?.type === 'file') hashes.add(e.hash);
    }
    const cache = new StatCache(repo.db);
    cache.retainOnly((p, hash) => !hashes.has(hash) && !lost.some((f) => f.path === p));
    cache.save();
    return {
      packs: rebuilt.packs, objects: rebuilt.objects, setAside: rebuilt.setAside, salvaged: rebuilt.salvaged,
      refsRestored, databaseSetAside: null, restoredFromWorkspace: restored, fetched,
      lostVersions: [...new Set(lost.map((f) => f.commit))].sort(), lostFiles: lost,
      fsck: await fsck(repo),
    };
  });
}

/** Refs from .dv/refs.log where dv.db lost or damaged them. The log is never behind
 * dv.db, so while it is intact a ref it does not know is damage (a flipped name) and
 * goes; from a damaged log, such a ref stays when its name is valid and it names a
 * stored commit. */
function restoreRefs(repo: Repo): string[] {
  const state = readRefLog(path.join(repo.dvDir, 'refs.log'));
  if (!state) return [];
  return repo.refs.restore(state, (name, target) => {
    if (state.damaged === 0) return false;
    const m = /^(?:heads|tags|exps|remotes\/[^/]+)\/(.+)$/.exec(name);
    try { checkRefName(m?.[1] ?? '', 'ref'); } catch { return false; }
    return /^[0-9a-f]{64}$/.test(target) && repo.blobs.locate(Buffer.from(target, 'hex'))?.type === BlobType.Commit;
  });
}

async function lostFiles(repo: Repo): Promise<LostFile[]> {
  const { broken } = await markReachable(repo, (await rootIds(repo)).filter((id) => /^[0-9a-f]{64}$/.test(id)));
  if (broken.size === 0) return [];
  return (await damagedFiles(repo, new Set(broken.keys()))).map((p) => ({ path: p.path!, commit: p.commit! }));
}

/** Re-stores damaged files from identical workspace copies; returns their paths. */
async function restoreFromWorkspace(repo: Repo): Promise<string[]> {
  const done = new Set<string>();
  const tried = new Set<string>();
  for (const f of await lostFiles(repo)) {
    const e = await repo.lookup(f.commit, f.path).catch(() => null);
    const file = path.join(repo.root, f.path);
    if (e?.type !== 'file' || tried.has(`${f.path}\0${e.hash}`)) continue;
    tried.add(`${f.path}\0${e.hash}`);
    if (fs.statSync(file, { throwIfNoEntry: false })?.size !== e.size) continue;
    const stored = await repo.storeStream(fs.createReadStream(file));
    if (stored.hash === e.hash) done.add(f.path);
  }
  return [...done].sort();
}
