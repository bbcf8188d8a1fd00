// `dv serve --remote NAME`: serve what an S3 remote holds without downloading it.
//
// The served repository is a mirror kept in `.dv/cache/remote-<NAME>/`: a dv
// repository whose SQLite index is built from the remote's pack tables (two ranged
// GETs per pack: footer, then table; see readRemoteTables) and whose refs are the
// remote's branches and tags, refreshed periodically. Its pack bytes are read
// through a PackCache: ranged GETs, cached in blocks under the mirror's
// `.dv/cache/blocks` with a size bound, or read from the project's own
// `.dv/packs` when the project happens to have that pack. Nothing of the project's
// index, refs or packs changes, so `dv fetch` and `dv gc` there are unaffected, and
// several proxies (each with its own mirror) can serve one remote side by side.
import fs from 'node:fs';
import path from 'node:path';
import { LocalPackReader } from '../store/blobstore.js';
import { packPath } from '../store/packwriter.js';
import { deletePack, indexedPacks } from '../store/maintenance.js';
import { PackCache } from '../store/packcache.js';
import { DV_DIR, Repo } from '../repo/repo.js';
import { resolveRemote } from '../repo/remote/config.js';
import { packKey } from '../repo/remote/layout.js';
import { readRemoteTables } from '../repo/remote/mark.js';
import { Remote } from '../repo/remote/remote.js';
import { withLockAsync } from './repo-backend.js';

export interface MirrorOptions {
  /** Remote name; default: the project's default remote. */
  remote?: string;
  /** Bound of the block cache, bytes. */
  cacheBytes: number;
  blockSize?: number;
  jobs?: number;
}

export interface SyncResult {
  packsIndexed: number;
  packsDropped: number;
  refs: number;
}

export class RemoteMirror {
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<SyncResult> | null = null;

  private constructor(
    /** The project whose remote is served (its directory names the bucket). */
    readonly projectRoot: string,
    readonly remote: Remote,
    readonly repo: Repo,
    readonly cache: PackCache,
  ) {}

  static async open(projectDir: string, opts: MirrorOptions): Promise<RemoteMirror> {
    const project = Repo.open(projectDir);
    let root: string;
    let remoteName: string;
    let remoteConfig;
    try {
      root = project.root;
      ({ name: remoteName, config: remoteConfig } = resolveRemote(project, opts.remote));
    } finally {
      project.close();
    }
    const remote = Remote.connect(remoteName, remoteConfig, { jobs: opts.jobs });
    try {
      const meta = await remote.requireMeta();
      const mirrorRoot = path.join(root, DV_DIR, 'cache', `remote-${remoteName}`);
      if (!fs.existsSync(path.join(mirrorRoot, DV_DIR, 'config.json'))) {
        const { min, avg, max } = meta.chunker;
        Repo.init(mirrorRoot, { chunker: { min, avg, max } }).close();
      }
      const projectPacks = path.join(root, DV_DIR, 'packs');
      let repo: Repo | undefined;
      const cache = new PackCache({
        dir: path.join(mirrorRoot, DV_DIR, 'cache', 'blocks'),
        maxBytes: opts.cacheBytes,
        blockSize: opts.blockSize,
        fetch: (pack, start, length) => remote.backend.getRange(packKey(pack), start, length),
        packSize: (pack) => repo!.blobs.packSize(pack),
        local: new LocalPackReader(projectPacks),
        packsDir: projectPacks,
      });
      repo = Repo.open(mirrorRoot, { packReader: cache });
      const mirror = new RemoteMirror(root, remote, repo, cache);
      await mirror.sync();
      return mirror;
    } catch (e) {
      remote.close();
      throw e;
    }
  }

  /** Index new packs (tables only), forget deleted ones, and mirror the remote's refs. */
  sync(): Promise<SyncResult> {
    this.syncing ??= this.syncOnce().finally(() => { this.syncing = null; });
    return this.syncing;
  }

  private async syncOnce(): Promise<SyncResult> {
    // Refs before packs: a push uploads its packs before its refs.
    const refs = await this.remote.listRefs();
    const packs = await this.remote.listPacks();
    const have = new Set(indexedPacks(this.repo.blobs).map((p) => p.id));
    const missing = [...packs.values()].filter((p) => !have.has(p.id));
    // A pack still in the mirror's own packs/ is a job's upload on its way to the remote (remote-jobs.ts).
    const gone = [...have].filter((id) => !packs.has(id) && !fs.existsSync(packPath(this.repo.blobs.packsDir, id)));
    // A blob stored in two packs is indexed at one of them; when that one goes, the
    // index must learn the other location again: re-read every table (rare: remote gc).
    const toIndex = gone.length ? [...packs.values()] : missing;
    const tables = await readRemoteTables(this.repo, this.remote, toIndex);
    return withLockAsync(this.repo, 'serve --remote', () => {
      const { blobs, refs: local } = this.repo;
      // Deleted by a remote gc: nothing the remote's refs need any more.
      for (const id of gone) deletePack(blobs, id);
      for (const p of toIndex) blobs.indexPack({ id: p.id, size: p.size, entries: tables.get(p.id)! });
      const want = new Map(refs.filter((r) => blobs.locate(Buffer.from(r.commit, 'hex'))).map((r) => [r.name, r.commit]));
      this.repo.db.transaction(() => {
        for (const r of local.list()) if (!want.has(r.name)) local.delete(r.name);
        for (const [name, commit] of want) if (local.get(name) !== commit) local.set(name, commit);
        const branches = [...want.keys()].filter((n) => n.startsWith('heads/')).map((n) => n.slice(6)).sort();
        if (branches.length && !want.has(`heads/${this.repo.head().branch}`)) {
          local.setHeadBranch(branches.includes('main') ? 'main' : branches[0]!);
        }
      })();
      return { packsIndexed: missing.length, packsDropped: gone.length, refs: want.size };
    });
  }

  /** Re-sync every `ms` so new pushes show up; failures go to `onError` and the last state stays. */
  refreshEvery(ms: number, onError: (e: unknown) => void, onSync?: (r: SyncResult) => void): void {
    if (!(ms > 0)) return;
    this.timer = setInterval(() => { this.sync().then(onSync, onError); }, ms);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.repo.close(); // closes the cache too
    this.remote.close();
  }
}
