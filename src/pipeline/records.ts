// Run records (blob type 4), run-cache entries (5) and logs (6) live in packs, so
// push/pull carry them. The SQLite tables here are only an index over those blobs,
// rebuilt lazily: any type 4/5 blob not seen yet (a pulled pack) is indexed on the
// next lookup, which is how a colleague's run-cache reaches this clone.
import type { Repo } from '../repo/repo.js';
import { migrate, type Migration } from '../store/db.js';
import { DvError } from '../store/errors.js';
import { BlobType } from '../store/packfile.js';
import { loadState, type LoadedState } from './state.js';
import type { PipelineState, RunCacheEntry, RunRecord } from './types.js';

export const PIPELINE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    up: `
      CREATE TABLE pipeline_cache (key TEXT PRIMARY KEY, blob TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE pipeline_runs (id TEXT PRIMARY KEY, blob TEXT NOT NULL, started_at TEXT NOT NULL,
                                  summary TEXT NOT NULL) WITHOUT ROWID;
      CREATE INDEX pipeline_runs_started ON pipeline_runs (started_at);
      CREATE TABLE pipeline_seen (blob BLOB PRIMARY KEY) WITHOUT ROWID;
    `,
  },
  {
    // Indexed packs instead of indexed blobs: finding what is new looks at a few pack
    // rows, not every blob of the store. Each pack is scanned (through blobs_pack) once.
    version: 2,
    up: `
      DROP TABLE pipeline_seen;
      CREATE TABLE pipeline_packs (pack TEXT PRIMARY KEY) WITHOUT ROWID;
    `,
  },
];

/** What `dv runs` lists, computed once when a record is indexed. */
export interface RunSummary {
  id: string;
  status: RunRecord['status'];
  branch: string | null;
  commit: string | null;
  stages: string[];
  startedAt: string;
  durationMs: number;
  counts: { run: number; cached: number; reused: number; removed: number; failed: number };
  /** The experiment's name, for runs of dv exp run. */
  experiment?: string;
}

export function summarize(r: RunRecord): RunSummary {
  const counts = { run: 0, cached: 0, reused: 0, removed: 0, failed: 0 };
  for (const s of r.stages) for (const k of Object.keys(counts) as (keyof typeof counts)[]) counts[k] += s.counts[k];
  return {
    id: r.id, status: r.status, branch: r.branch, commit: r.commit, stages: r.stages.map((s) => s.name),
    startedAt: r.startedAt, durationMs: r.durationMs, counts, ...(r.experiment ? { experiment: r.experiment.name } : {}),
  };
}

/** Index rows written by writeCacheEntry and writeRecord and not yet by flush, per repository. */
interface Pending {
  cache: Map<string, string>;
  runs: { id: string; blob: string; startedAt: string; summary: string }[];
  /** Blobs whose rows flush wrote: sync need not read them back from their packs. */
  indexed: Set<string>;
}
const pending = new WeakMap<Repo, Pending>();
function pendingOf(repo: Repo): Pending {
  let p = pending.get(repo);
  if (!p) pending.set(repo, (p = { cache: new Map(), runs: [], indexed: new Set() }));
  return p;
}

function canonical(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v), 'utf8');
}

export class PipelineStore {
  constructor(readonly repo: Repo) {
    migrate(repo.db, 'pipeline', PIPELINE_MIGRATIONS);
  }

  /** Indexes the type 4/5 blobs of packs not scanned yet (written here, pulled, or repacked by gc). */
  async sync(): Promise<void> {
    const db = this.repo.db;
    const scannedBefore = new Set(db.prepare('SELECT pack FROM pipeline_packs').pluck().all() as string[]);
    const packs = this.repo.blobs.packIds().filter((p) => !scannedBefore.has(p));
    // Every blob flush indexed is in a pack sealed before its rows went in: scanned now or
    // before, it is not looked for again (so the set does not grow with the process).
    const known = pendingOf(this.repo).indexed;
    if (packs.length === 0) return known.clear();
    const docs: { id: Buffer; type: number; doc: unknown }[] = [];
    for (const pack of packs) {
      for (const u of this.repo.blobs.blobsInPack(pack, [BlobType.RunRecord, BlobType.RunCache])) {
        if (known.has(u.id.toString('hex'))) continue; // written by this process: its row is there
        try {
          docs.push({ ...u, doc: await this.readDoc(u.id) });
        } catch {
          // unreadable: fsck reports it; the pack still counts as scanned, not retried on every lookup
        }
      }
    }
    const scanned = db.prepare('INSERT OR IGNORE INTO pipeline_packs (pack) VALUES (?)');
    const cache = db.prepare('INSERT OR IGNORE INTO pipeline_cache (key, blob) VALUES (?, ?)');
    const runs = db.prepare('INSERT OR REPLACE INTO pipeline_runs (id, blob, started_at, summary) VALUES (?, ?, ?, ?)');
    // A run recorded twice (a record sealed with its commit, superseded when what followed
    // failed): the one that finished later counts, whatever order the packs are read in.
    const records = new Map<string, { hex: string; r: RunRecord }>();
    db.transaction(() => {
      for (const { id, type, doc } of docs) {
        const hex = id.toString('hex');
        if (type === BlobType.RunCache && typeof (doc as RunCacheEntry | null)?.key === 'string') {
          cache.run((doc as RunCacheEntry).key, hex);
        } else if (type === BlobType.RunRecord && typeof (doc as RunRecord | null)?.id === 'string') {
          const r = doc as RunRecord;
          const seen = records.get(r.id);
          if (!seen || seen.r.finishedAt < r.finishedAt) records.set(r.id, { hex, r });
        }
      }
      for (const { hex, r } of records.values()) runs.run(r.id, hex, r.startedAt, JSON.stringify(summarize(r)));
      for (const pack of packs) scanned.run(pack);
    })();
    known.clear();
  }

  /** Seals the open pack and indexes what it held. */
  async flush(): Promise<void> {
    this.repo.blobs.flush();
    this.writePending();
    await this.sync();
  }

  /** A JSON blob (record, run-cache entry, state bucket); throws when missing, corrupt or not JSON. */
  async readDoc<T>(id: Buffer | string): Promise<T> {
    return JSON.parse((await this.repo.blobs.get(id)).toString('utf8')) as T;
  }

  async writeLog(text: string): Promise<string> {
    return (await this.repo.blobs.put(BlobType.Log, Buffer.from(text, 'utf8'))).toString('hex');
  }

  async readLog(id: string): Promise<string> {
    return (await this.repo.blobs.get(id)).toString('utf8');
  }

  /**
   * Stores an entry; its index row waits in memory, shared by every store of this
   * repository in this process (another run of this process may look the entry up
   * before the pack is sealed), and is written with the others in one transaction by
   * flush(): no commit of the index per datum. A process that dies first loses nothing:
   * the entries sat in the unsealed pack.
   */
  async writeCacheEntry(e: RunCacheEntry): Promise<string> {
    const blob = (await this.repo.blobs.put(BlobType.RunCache, canonical(e))).toString('hex');
    const p = pendingOf(this.repo);
    p.cache.set(e.key, blob);
    return blob;
  }

  /** Writes the waiting index rows. */
  private writePending(): void {
    const p = pendingOf(this.repo);
    if (p.cache.size === 0 && p.runs.length === 0) return;
    const insert = this.repo.db.prepare('INSERT OR REPLACE INTO pipeline_cache (key, blob) VALUES (?, ?)');
    const runs = this.repo.db.prepare('INSERT OR REPLACE INTO pipeline_runs (id, blob, started_at, summary) VALUES (?, ?, ?, ?)');
    this.repo.db.transaction(() => {
      for (const [key, blob] of p.cache) insert.run(key, blob);
      for (const r of p.runs) runs.run(r.id, r.blob, r.startedAt, r.summary);
    })();
    for (const blob of p.cache.values()) p.indexed.add(blob);
    for (const r of p.runs) p.indexed.add(r.blob);
    p.cache.clear();
    p.runs = [];
  }

  /** The entry for a key, or null on a miss (also when its blob is gone). */
  async readCacheEntry(key: string): Promise<RunCacheEntry | null> {
    const blob = this.cacheBlob(key);
    if (!blob) return null;
    return this.readDoc<RunCacheEntry>(blob);
  }

  private cacheLookup: ReturnType<Repo['db']['prepare']> | null = null;

  private cacheBlob(key: string): string | null {
    this.cacheLookup ??= this.repo.db.prepare('SELECT blob FROM pipeline_cache WHERE key = ?').pluck();
    const blob = pendingOf(this.repo).cache.get(key) ?? (this.cacheLookup.get(key) as string | undefined);
    return blob && this.repo.blobs.has(Buffer.from(blob, 'hex')) ? blob : null;
  }

  hasCache(key: string): boolean {
    return this.cacheBlob(key) !== null;
  }

  /** Stores a run's record; its row waits with the run-cache rows for flush(). */
  async writeRecord(r: RunRecord): Promise<string> {
    const blob = (await this.repo.blobs.put(BlobType.RunRecord, canonical(r))).toString('hex');
    pendingOf(this.repo).runs.push({ id: r.id, blob, startedAt: r.startedAt, summary: JSON.stringify(summarize(r)) });
    return blob;
  }

  /** Full run id or a unique prefix of at least 4 characters. */
  resolveRun(idOrPrefix: string): string {
    if (!/^[0-9a-f]{4,64}$/.test(idOrPrefix)) throw new DvError(`invalid run id '${idOrPrefix}'`, 2);
    const ids = this.repo.db.prepare('SELECT id FROM pipeline_runs WHERE id >= ? AND id <= ? LIMIT 2').pluck()
      .all(idOrPrefix, idOrPrefix.padEnd(64, 'f')) as string[];
    if (ids.length === 0) throw new DvError(`unknown run '${idOrPrefix}'`);
    if (ids.length > 1) throw new DvError(`run id '${idOrPrefix}' is ambiguous`);
    return ids[0]!;
  }

  async readRecord(runId: string): Promise<RunRecord> {
    const blob = this.repo.db.prepare('SELECT blob FROM pipeline_runs WHERE id = ?').pluck().get(runId) as string | undefined;
    if (!blob) throw new DvError(`unknown run '${runId}'`);
    return this.readDoc<RunRecord>(blob);
  }

  /** Runs that started before `iso` (an ISO 8601 instant) and their record blobs. */
  runsStartedBefore(iso: string): { id: string; blob: string }[] {
    return this.repo.db.prepare('SELECT id, blob FROM pipeline_runs WHERE started_at < ?').all(iso) as { id: string; blob: string }[];
  }

  /** After gc: forgets rows whose blob is gone, so `dv runs` stops listing a pruned run and its keys miss. */
  pruneIndex(): void {
    const db = this.repo.db;
    const gone = (rows: { k: string; blob: string }[]): string[] =>
      rows.filter((r) => !this.repo.blobs.has(Buffer.from(r.blob, 'hex'))).map((r) => r.k);
    const cache = gone(db.prepare('SELECT key AS k, blob FROM pipeline_cache').all() as { k: string; blob: string }[]);
    const runs = gone(db.prepare('SELECT id AS k, blob FROM pipeline_runs').all() as { k: string; blob: string }[]);
    const delCache = db.prepare('DELETE FROM pipeline_cache WHERE key = ?');
    const delRun = db.prepare('DELETE FROM pipeline_runs WHERE id = ?');
    db.transaction(() => {
      for (const k of cache) delCache.run(k);
      for (const k of runs) delRun.run(k);
    })();
  }

  listRuns(limit?: number): RunSummary[] {
    const sql = 'SELECT summary FROM pipeline_runs ORDER BY started_at DESC, id' + (limit ? ' LIMIT ?' : '');
    const stmt = this.repo.db.prepare(sql).pluck();
    const rows = (limit ? stmt.all(limit) : stmt.all()) as string[];
    return rows.map((s) => JSON.parse(s) as RunSummary);
  }

  /**
   * The pipeline state as of a commit: from the nearest commit at or before it
   * (first parents) that a run made. Empty when no run made any of them.
   */
  async stateAt(commit: string | null): Promise<LoadedState & { run: string | null }> {
    for (let id = commit; id; ) {
      const c = await this.repo.readCommit(id);
      if (c.run) {
        const r = await this.readRecord(c.run).catch(() => null);
        if (r?.state) {
          // Format 1 held the state inline; its layout is empty, so the next save writes buckets.
          const loaded = (r.format as number) === 1
            ? { state: r.state as unknown as PipelineState, ref: {} }
            : await loadState(this.repo.blobs, r.state);
          return { ...loaded, run: r.id };
        }
      }
      id = c.parents[0] ?? null;
    }
    return { state: {}, ref: {}, run: null };
  }
}
