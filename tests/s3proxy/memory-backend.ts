// TEST DOUBLE ONLY: an in-memory ProxyBackend standing in for the repository until
// the real Repo is wired into `dv serve`. It mimics the contract documented in
// src/s3proxy/types.ts (content-addressed chunks, S3-ordered walks with seeking,
// ranged reads of only the overlapping chunks, atomic commits on a branch head),
// and counts chunk reads so tests can check range reads stay local.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DvError } from '../../src/store/errors.js';
import { blake3Hex, createHasher } from '../../src/store/hash.js';
import type { FileEntry, IngestedFile, StoredFile, WalkItem } from '../../src/repo/types.js';
import { cmpKey } from '../../src/s3proxy/listing.js';
import {
  CommitConflict, sameFile, type CommitOptions, type CommitResult, type FileChange, type ProxyBackend, type RefInfo,
  type RepoInfo, type ResolvedRef,
} from '../../src/s3proxy/types.js';

interface MemCommit {
  id: string;
  files: Map<string, FileEntry>;
  sorted: string[];
  time: Date;
  message: string;
}

export class MemoryBackend implements ProxyBackend {
  readonly chunks = new Map<string, Buffer>();
  readonly commits = new Map<string, MemCommit>();
  readonly refs = new Map<string, { kind: 'branch' | 'tag'; commit: string }>();
  /** Chunks read by open(), for range-locality assertions. */
  chunkReads = 0;
  /** Delay between chunks served by open(), to test clients going away mid-stream. */
  readDelayMs = 0;
  /** Streams returned by open() that were destroyed before they ended. */
  destroyedReads = 0;
  commitCount = 0;
  /** Time a commit takes before it lands (as a real one spends writing and syncing). */
  commitDelayMs = 0;
  /** Items yielded by walk(), to check that paging never re-reads from the start. */
  walkYields = 0;
  private clock = Date.UTC(2026, 0, 1);

  constructor(readonly name = 'weather', readonly chunkSize = 64 * 1024) {
    this.newCommit(new Map(), 'init', null);
    this.refs.set('main', { kind: 'branch', commit: [...this.commits.keys()][0]! });
  }

  // ---- seeding helpers ---------------------------------------------------------

  async put(branch: string, files: Record<string, string | Buffer>, message = 'seed'): Promise<string> {
    const changes = new Map<string, FileChange | null>();
    for (const [p, data] of Object.entries(files)) changes.set(p, await this.storeStream(this.name, Readable.from([Buffer.from(data)])));
    return (await this.commit(this.name, branch, changes, message)).commit;
  }

  branch(name: string, from = 'main'): void {
    this.refs.set(name, { kind: 'branch', commit: this.refs.get(from)!.commit });
  }

  tag(name: string, from = 'main'): void {
    this.refs.set(name, { kind: 'tag', commit: this.refs.get(from)!.commit });
  }

  head(branch: string): MemCommit {
    return this.commits.get(this.refs.get(branch)!.commit)!;
  }

  content(entry: StoredFile): Buffer {
    return Buffer.concat(entry.chunks.map(([id]) => this.chunks.get(id)!));
  }

  private newCommit(files: Map<string, FileEntry>, message: string, _parent: string | null): MemCommit {
    this.clock += 60_000;
    const time = new Date(this.clock);
    const sorted = [...files.keys()].sort(cmpKey);
    const id = blake3Hex(JSON.stringify({ files: sorted.map((p) => [p, files.get(p)!.hash]), message, time, parent: _parent }));
    const c: MemCommit = { id, files, sorted, time, message };
    this.commits.set(id, c);
    return c;
  }

  // ---- ProxyBackend --------------------------------------------------------------

  listRepos(): RepoInfo[] {
    return [{ name: this.name, created: new Date(Date.UTC(2026, 0, 1)) }];
  }

  private check(repo: string): void {
    if (repo !== this.name) throw new Error(`unknown repo ${repo}`);
  }

  async listRefs(repo: string): Promise<RefInfo[]> {
    this.check(repo);
    return [...this.refs].map(([name, r]) => ({ name, kind: r.kind, commit: r.commit, time: this.commits.get(r.commit)!.time }));
  }

  async resolve(repo: string, ref: string): Promise<ResolvedRef | null> {
    this.check(repo);
    const named = this.refs.get(ref === 'HEAD' ? 'main' : ref);
    if (named) return { commit: named.commit, kind: ref === 'HEAD' ? 'commit' : named.kind, time: this.commits.get(named.commit)!.time };
    if (!/^[0-9a-f]{4,64}$/.test(ref)) return null;
    const hits = [...this.commits.keys()].filter((id) => id.startsWith(ref));
    if (hits.length > 1) throw new DvError(`ambiguous commit prefix '${ref}'`);
    if (hits.length === 0) return null;
    return { commit: hits[0]!, kind: 'commit', time: this.commits.get(hits[0]!)!.time };
  }

  async *walk(repo: string, commit: string, prefix: string, startAfter?: string): AsyncGenerator<WalkItem> {
    this.check(repo);
    const c = this.commits.get(commit)!;
    // Binary search for the first path > max(startAfter, just-before-prefix): seeking is O(log n).
    const from = startAfter !== undefined && cmpKey(startAfter, prefix) >= 0 ? startAfter : undefined;
    let lo = 0;
    let hi = c.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const p = c.sorted[mid]!;
      const before = from !== undefined ? cmpKey(p, from) <= 0 : cmpKey(p, prefix) < 0;
      if (before) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < c.sorted.length; i++) {
      const path = c.sorted[i]!;
      if (!path.startsWith(prefix)) {
        if (cmpKey(path, prefix) > 0) return;
        continue;
      }
      this.walkYields++;
      yield { path, entry: c.files.get(path)! };
    }
  }

  async stat(repo: string, commit: string, path: string): Promise<FileEntry | null> {
    this.check(repo);
    return this.commits.get(commit)?.files.get(path) ?? null;
  }

  open(repo: string, entry: StoredFile, start: number, endExclusive: number): Readable {
    this.check(repo);
    const offsets: number[] = [];
    let off = 0;
    for (const [, len] of entry.chunks) {
      offsets.push(off);
      off += len;
    }
    // First chunk overlapping `start`, by binary search over chunk offsets.
    let lo = 0;
    let hi = offsets.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (offsets[mid]! <= start) lo = mid;
      else hi = mid - 1;
    }
    const self = this;
    let ended = false;
    async function* gen(): AsyncGenerator<Buffer> {
      for (let i = lo; i < entry.chunks.length && offsets[i]! < endExclusive; i++) {
        if (self.readDelayMs) await new Promise((r) => setTimeout(r, self.readDelayMs));
        self.chunkReads++;
        const buf = self.chunks.get(entry.chunks[i]![0])!;
        const s = Math.max(0, start - offsets[i]!);
        const e = Math.min(buf.length, endExclusive - offsets[i]!);
        yield buf.subarray(s, e);
      }
      ended = true;
    }
    const r = Readable.from(gen(), { objectMode: false });
    r.once('close', () => { if (!ended) self.destroyedReads++; });
    return r;
  }

  async md5(repo: string, entry: StoredFile): Promise<string> {
    this.check(repo);
    return createHash('md5').update(this.content(entry)).digest('hex');
  }

  md5s(repo: string, entries: StoredFile[]): Promise<string[]> {
    return Promise.all(entries.map((e) => this.md5(repo, e)));
  }

  async storeStream(repo: string, body: Readable): Promise<IngestedFile> {
    this.check(repo);
    const md5 = createHash('md5');
    const whole = await createHasher();
    const chunks: [string, number][] = [];
    let size = 0;
    let pending: Buffer[] = [];
    let pendingLen = 0;
    const cut = (final: boolean): void => {
      let buf = Buffer.concat(pending);
      while (buf.length >= this.chunkSize || (final && buf.length > 0)) {
        const piece = buf.subarray(0, Math.min(this.chunkSize, buf.length));
        const id = blake3Hex(piece);
        this.chunks.set(id, Buffer.from(piece));
        chunks.push([id, piece.length]);
        buf = buf.subarray(piece.length);
      }
      pending = buf.length ? [buf] : [];
      pendingLen = buf.length;
    };
    for await (const chunk of body) {
      const b = chunk as Buffer;
      whole.update(b);
      md5.update(b);
      size += b.length;
      pending.push(b);
      pendingLen += b.length;
      if (pendingLen >= this.chunkSize) cut(false);
    }
    cut(true);
    return { size, hash: whole.digestHex(), chunks, md5: md5.digest('hex') };
  }

  async concat(repo: string, parts: StoredFile[]): Promise<StoredFile> {
    this.check(repo);
    const whole = await createHasher();
    const chunks: [string, number][] = [];
    let size = 0;
    for (const p of parts) {
      for (const c of p.chunks) {
        whole.update(this.chunks.get(c[0])!);
        chunks.push(c);
      }
      size += p.size;
    }
    return { size, hash: whole.digestHex(), chunks };
  }

  async commit(repo: string, branch: string, changes: Map<string, FileChange | null>, message: string, opts?: CommitOptions): Promise<CommitResult> {
    this.check(repo);
    if (this.commitDelayMs) await new Promise((r) => setTimeout(r, this.commitDelayMs));
    // No await from here on: the read-modify-write of the branch head is atomic.
    const ref = this.refs.get(branch);
    if (!ref || ref.kind !== 'branch') throw new DvError(`no branch '${branch}'`);
    const head = this.commits.get(ref.commit)!;
    for (const [path, pred] of opts?.expect ?? []) {
      if (!pred(head.files.get(path) ?? null)) throw new CommitConflict(path);
    }
    const files = new Map(head.files);
    let changed = 0;
    for (const [path, ch] of changes) {
      if (opts?.skipUnchanged && sameFile(head.files.get(path) ?? null, ch)) continue;
      changed++;
      if (ch === null) files.delete(path);
      else files.set(path, { name: path.split('/').pop()!, type: 'file', mode: ch.mode ?? 0o644, size: ch.size, hash: ch.hash, chunks: ch.chunks, ...(ch.s3 ? { s3: ch.s3 } : {}) });
    }
    if (changed === 0 && opts?.skipUnchanged) return { commit: head.id, time: head.time, created: false };
    const c = this.newCommit(files, message, head.id);
    ref.commit = c.id;
    this.commitCount++;
    return { commit: c.id, time: c.time };
  }
}
