// The cluster-job half of `dv serve --remote` (docs/executors.md, "dv serve --remote
// as the data path"): job keys and job uploads with no state of the server's own, so
// any number of servers behind a load balancer answer a job alike.
// - Keys: the coordinating dv run writes each job key's record to the remote
//   (src/repo/remote/job-data.ts); a server reads it on the key's first request and
//   caches it for CACHE_MS, so a revocation (the record deleted) or an expiry
//   takes effect within that. A key never seen before also re-syncs the mirror
//   first: the run pushed its inputs' packs just before it wrote the key.
// - Uploads: a job key's PUT under `dv-cluster-uploads/<its batch>/` is
//   chunked into a pack of its own, the pack sent to the remote, then a manifest
//   naming its chunks written there; nothing else is writable through this server.
import { BlobStore } from '../store/blobstore.js';
import { packPath } from '../store/packwriter.js';
import type { KeyLookup, KeyRecord, KeyStore } from '../repo/access-keys.js';
import { canWritePath } from '../repo/access-keys.js';
import { JOB_UPLOAD_AREA, readJobKey, writeUploadManifest } from '../repo/remote/job-data.js';
import { uploadPacks } from '../repo/remote/transfer.js';
import { bodyOf } from './body.js';
import { s3err } from './errors.js';
import { quoteEtag } from './etag.js';
import type { RemoteMirror } from './remote-mirror.js';
import { type Ctx, sendEmpty, validateKey } from './request.js';
import fs from 'node:fs';

/** How long a key record read from the remote is trusted (DV_JOB_KEY_CACHE_MS: tests). */
const CACHE_MS = Number(process.env.DV_JOB_KEY_CACHE_MS) || 5000;

/** The project's own keys first (dv keys create on the serving machine), then the remote's job keys. */
export class RemoteJobKeys implements KeyLookup {
  private readonly cache = new Map<string, { rec: KeyRecord | null; at: number }>();

  constructor(private readonly local: KeyStore, private readonly mirror: RemoteMirror, private readonly now = Date.now) {}

  /** Called before a request is verified (lookup must then answer from memory). */
  async prefetch(id: string): Promise<void> {
    if (this.local.lookup(id)) return;
    const hit = this.cache.get(id);
    if (hit && this.now() - hit.at < CACHE_MS) return;
    const rec = await readJobKey(this.mirror.remote, id);
    if (rec && !hit?.rec) await this.mirror.sync(); // a new run: its inputs just arrived
    this.cache.set(id, { rec: rec && rec.runId ? rec : null, at: this.now() });
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!);
  }

  lookup(id: string): KeyRecord | null {
    return this.local.lookup(id) ?? this.cache.get(id)?.rec ?? null;
  }
}

/** The server hook: true when it answered the request (a job's upload). */
export function remoteJobUploads(mirror: RemoteMirror): (ctx: Ctx) => Promise<boolean> {
  return async (ctx) => {
    if (!ctx.key.startsWith(`${JOB_UPLOAD_AREA}/`) || ctx.method !== 'PUT') return false;
    const p = ctx.principal;
    if (!p?.runId || !p.writePaths) throw s3err('AccessDenied', `Access Denied: only a run's job keys write to ${JOB_UPLOAD_AREA} through dv serve --remote.`);
    if (['uploadId', 'partNumber', 'uploads'].some((q) => ctx.query.has(q))) throw s3err('NotImplemented', `${JOB_UPLOAD_AREA} through dv serve --remote takes plain PUTs (up to 5 GiB), not multipart uploads or copies.`);
    validateKey(ctx.key, true);
    const rel = ctx.key.slice(JOB_UPLOAD_AREA.length + 1);
    if (!canWritePath(p, JOB_UPLOAD_AREA, rel)) {
      throw s3err('AccessDenied', `Access Denied: this key may not write '${ctx.key}' (only below ${p.writePaths.join(', ')}).`);
    }
    if (ctx.req.headers['x-amz-copy-source']) throw s3err('NotImplemented', 'copies into the upload area are not supported.');
    const { repo, remote } = mirror;
    // Its own store: the upload's chunks land in one pack of their own, sealed at the end.
    const store = new BlobStore(repo.db, repo.dvDir);
    let stored;
    try {
      stored = await repo.ingestor({ store }).storeStream(bodyOf(ctx));
      store.flush();
    } finally {
      store.close();
    }
    const packs = [...new Set(stored.chunks.map(([id]) => repo.blobs.locate(Buffer.from(id, 'hex'))?.pack).filter((x): x is string => !!x))];
    // Only those written here; the others came from the remote already.
    const mine = packs.filter((id) => fs.existsSync(packPath(repo.blobs.packsDir, id)));
    await uploadPacks(remote, repo.blobs, mine.map((id) => ({ id, size: repo.blobs.packSize(id)! })));
    // On the remote now: read back from there like any other pack, and no longer shielded from a sync's pruning.
    for (const id of mine) fs.rmSync(packPath(repo.blobs.packsDir, id), { force: true });
    await writeUploadManifest(remote, rel, { size: stored.size, hash: stored.hash, chunks: stored.chunks, packs });
    sendEmpty(ctx, 200, { etag: quoteEtag(stored.hash.slice(0, 32)) });
    return true;
  };
}
