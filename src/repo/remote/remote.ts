// A connection to one remote: the S3 backend plus the layout-aware reads every
// transfer needs (the marker document, the pack listing, refs with their ETags).
import { DvError } from '../../store/errors.js';
import { pool } from '../../store/pool.js';
import { S3Backend } from '../../store/s3backend.js';
import type { RemoteConfig } from '../config.js';
import type { RepoConfig } from '../config.js';
import {
  decodeMeta, decodeProtected, decodeRef, describeChunker, encodeMeta, encodeProtected, encodeRef, isBranchOrTagRef, META_KEY, PACKS_PREFIX, parsePackKey, PINS_PREFIX, pinKey,
  PROTECTED_KEY, REFS_PREFIX, refKey, sameChunker, type RemoteMeta,
} from './layout.js';
import type { Protection } from '../protect.js';

export interface RemotePack {
  id: string;
  size: number;
  lastModified?: Date;
}

export interface RemoteRef {
  /** `heads/main`, `tags/v1` */
  name: string;
  commit: string;
  /** For compare-and-swap (If-Match). */
  etag?: string;
}

export interface ConnectOptions {
  /** Parallel transfers; also sizes the socket pool. */
  jobs?: number;
  /** Retries of a transient failure (the backend's default otherwise). */
  retries?: number;
}

export const DEFAULT_JOBS = 8;

export class Remote {
  private conditional: Promise<boolean> | undefined;

  constructor(readonly name: string, readonly backend: S3Backend, readonly jobs: number) {}

  static connect(name: string, cfg: RemoteConfig, opts: ConnectOptions = {}): Remote {
    const jobs = opts.jobs ?? DEFAULT_JOBS;
    if (!Number.isInteger(jobs) || jobs < 1) throw new DvError(`--jobs must be a positive integer, got ${jobs}`, 2);
    const backend = new S3Backend(cfg.url, { endpoint: cfg.endpoint, region: cfg.region, concurrency: jobs, retries: opts.retries });
    return new Remote(name, backend, jobs);
  }

  get url(): string {
    return this.backend.url;
  }

  close(): void {
    this.backend.close();
  }

  /** Probed on first use only: the probe itself writes, and most pushes never update a ref. */
  conditionalWrites(): Promise<boolean> {
    this.conditional ??= this.backend.detectConditionalWrites();
    return this.conditional;
  }

  async readMeta(): Promise<RemoteMeta | null> {
    const got = await this.backend.get(META_KEY);
    return got && decodeMeta(got.body, this.url);
  }

  /** For fetch, pull and clone: the remote must exist and chunk as we do. */
  async requireMeta(chunker?: RepoConfig['chunker']): Promise<RemoteMeta> {
    const meta = await this.readMeta();
    if (!meta) throw new DvError(`${this.url} is not a dv remote yet (no ${META_KEY}); push to it first`);
    if (chunker) this.checkChunker(meta, chunker);
    return meta;
  }

  /** For push: marks an empty location as a dv remote, or checks the existing marker. */
  async ensureMeta(chunker: RepoConfig['chunker']): Promise<void> {
    const meta = await this.readMeta();
    if (meta) return this.checkChunker(meta, chunker);
    const cas = await this.conditionalWrites();
    try {
      await this.backend.put(META_KEY, encodeMeta(chunker), { contentType: 'application/json', ifNoneMatch: cas ? '*' : undefined });
    } catch (e) {
      if (!(e instanceof DvError && e.code === 'PRECONDITION')) throw e;
      // Another first push created it a moment ago: its parameters must match ours too.
      this.checkChunker((await this.readMeta())!, chunker);
    }
  }

  private checkChunker(meta: RemoteMeta, chunker: RepoConfig['chunker']): void {
    if (sameChunker(meta.chunker, chunker)) return;
    // Different boundaries mean no chunk would ever dedupe against the remote's.
    throw new DvError(`remote '${this.name}' (${this.url}) chunks with ${describeChunker(meta.chunker)} but this repository `
      + `uses ${describeChunker(chunker)}; clone the remote into a new directory instead`);
  }

  /** Every pack on the remote (one paginated LIST). */
  async listPacks(): Promise<Map<string, RemotePack>> {
    const out = new Map<string, RemotePack>();
    for await (const o of this.backend.list(PACKS_PREFIX)) {
      const id = parsePackKey(o.key);
      if (id) out.set(id, { id, size: o.size, lastModified: o.lastModified });
    }
    return out;
  }

  async readRef(name: string): Promise<RemoteRef | null> {
    const got = await this.backend.get(refKey(name));
    return got && { name, commit: decodeRef(got.body, `${this.url}/${refKey(name)}`), etag: got.etag };
  }

  /** The commits pinned on the remote (one LIST; the id is the key). */
  /** The remote's protected branches (none when it has no list). */
  async readProtected(): Promise<Protection[]> {
    const got = await this.backend.get(PROTECTED_KEY);
    return got ? decodeProtected(got.body, this.url) : [];
  }

  async writeProtected(list: Protection[]): Promise<void> {
    await this.backend.put(PROTECTED_KEY, encodeProtected(list), { contentType: 'application/json' });
  }

  async listPins(): Promise<Set<string>> {
    const out = new Set<string>();
    for await (const o of this.backend.list(PINS_PREFIX)) {
      const id = o.key.slice(PINS_PREFIX.length);
      if (/^[0-9a-f]{64}$/.test(id)) out.add(id);
    }
    return out;
  }

  /** Pins a commit whose objects are already on the remote. */
  async writePin(commit: string): Promise<void> {
    await this.backend.put(pinKey(commit), encodeRef(commit), { contentType: 'text/plain' });
  }

  /** Branches and tags: one LIST, then the (small) ref bodies in parallel. */
  async listRefs(): Promise<RemoteRef[]> {
    const names: string[] = [];
    for await (const o of this.backend.list(REFS_PREFIX)) {
      const name = o.key.slice(REFS_PREFIX.length);
      if (isBranchOrTagRef(name)) names.push(name);
    }
    const refs = await pool(names, this.jobs, (n) => this.readRef(n));
    return refs.filter((r): r is RemoteRef => r !== null);
  }
}
