// What the coordinating dv run and any number of `dv serve --remote` servers share
// for cluster jobs, all of it objects on the remote (layout.ts), so a server keeps no
// state another one would need and several can sit behind a load balancer:
// - job key records (`jobs/keys/<id>.json`): written by the run when it mints a key,
//   read (and briefly cached) by a server on the key's first request, deleted to
//   revoke. A record carries the key's secret, as .dv/keys.json does (SigV4 needs
//   it), and only the session token's hash: whoever may read the remote's jobs/ may
//   act as the run's jobs, as whoever reads .dv/keys.json may;
// - the inputs: the packs of the run's inputs commit, pushed before the first key;
//   no ref moves (the key reads that commit by id);
// - upload manifests (`jobs/uploads/<batch>/<path>`): per file a job PUT, its size,
//   BLAKE3 and chunks and the packs that hold them (uploaded first), written by the
//   one server that took the PUT.
import type { KeyRecord } from '../access-keys.js';
import type { Repo } from '../repo.js';
import type { ChunkRef } from '../types.js';
import { indexedPacks } from '../../store/maintenance.js';
import { jobKeyKey, jobUploadKey, JOB_KEYS_PREFIX, JOB_UPLOADS_PREFIX, packKey } from './layout.js';
import type { Remote } from './remote.js';
import { downloadPacks, uploadPacks } from './transfer.js';

/** Where jobs write: a branch of the run's repository in-process, a prefix of the remote's jobs/uploads/ here. */
export const JOB_UPLOAD_AREA = 'dv-cluster-uploads';

export interface UploadManifest {
  size: number;
  hash: string;
  chunks: ChunkRef[];
  /** The packs holding the chunks (on the remote before the manifest is written). */
  packs: string[];
}

export async function publishJobKey(remote: Remote, rec: KeyRecord): Promise<void> {
  await remote.backend.put(jobKeyKey(rec.id), Buffer.from(JSON.stringify(rec)), { contentType: 'application/json' });
}

export async function withdrawJobKey(remote: Remote, id: string): Promise<void> {
  await remote.backend.delete(jobKeyKey(id));
}

/** Revokes every job key that writes below one of `batches` (a re-attached run's, minted by the run it took over). */
export async function withdrawBatchKeys(remote: Remote, batches: Set<string>): Promise<void> {
  for await (const o of remote.backend.list(JOB_KEYS_PREFIX)) {
    const rec = await readJobKey(remote, o.key.slice(JOB_KEYS_PREFIX.length).replace(/\.json$/, ''));
    const batch = /^[^/]+\/([^/]+)\/$/.exec(rec?.writePaths?.[0] ?? '')?.[1];
    if (rec && batch && batches.has(batch)) await remote.backend.delete(o.key);
  }
}

/** What remote gc must keep for runs in flight: the commits live job keys read, the packs upload manifests name. */
export async function jobRoots(remote: Remote, now = Date.now()): Promise<{ commits: string[]; packs: Set<string> }> {
  const commits: string[] = [];
  const packs = new Set<string>();
  for await (const o of remote.backend.list(JOB_KEYS_PREFIX)) {
    const rec = await readJobKey(remote, o.key.slice(JOB_KEYS_PREFIX.length).replace(/\.json$/, ''));
    if (rec && !(rec.expires !== undefined && Date.parse(rec.expires) <= now)) commits.push(...rec.read.filter((r) => /^[0-9a-f]{64}$/.test(r)));
  }
  for await (const o of remote.backend.list(JOB_UPLOADS_PREFIX)) {
    for (const id of (await readUploadManifest(remote, o.key.slice(JOB_UPLOADS_PREFIX.length)))?.packs ?? []) packs.add(id);
  }
  return { commits, packs };
}

/** The record of a job key, or null when there is none (never made, or revoked). */
export async function readJobKey(remote: Remote, id: string): Promise<KeyRecord | null> {
  if (!/^[A-Z0-9]{8,64}$/.test(id)) return null;
  const got = await remote.backend.get(jobKeyKey(id));
  if (!got) return null;
  try {
    const rec = JSON.parse(got.body.toString('utf8')) as KeyRecord;
    return rec.id === id && typeof rec.secret === 'string' && Array.isArray(rec.read) && Array.isArray(rec.write) ? rec : null;
  } catch {
    return null;
  }
}

/** Sends every local pack the remote lacks (what the run's inputs commit needs among them); no ref moves. */
export async function pushPacks(repo: Repo, remote: Remote): Promise<number> {
  await remote.ensureMeta(repo.config.chunker);
  const theirs = await remote.listPacks();
  const missing = indexedPacks(repo.blobs).filter((p) => !theirs.has(p.id));
  await uploadPacks(remote, repo.blobs, missing);
  return missing.length;
}

export async function writeUploadManifest(remote: Remote, path: string, m: UploadManifest): Promise<void> {
  await remote.backend.put(jobUploadKey(path), Buffer.from(JSON.stringify(m)), { contentType: 'application/json' });
}

/** Paths (relative to the upload area) of every manifest under `prefix`. */
export async function listUploads(remote: Remote, prefix = ''): Promise<string[]> {
  const base = JOB_UPLOADS_PREFIX;
  const out: string[] = [];
  for await (const o of remote.backend.list(base + prefix)) out.push(o.key.slice(base.length));
  return out;
}

export async function readUploadManifest(remote: Remote, path: string): Promise<UploadManifest | null> {
  const got = await remote.backend.get(jobUploadKey(path));
  if (!got) return null;
  try {
    const m = JSON.parse(got.body.toString('utf8')) as UploadManifest;
    return typeof m.size === 'number' && Array.isArray(m.chunks) && Array.isArray(m.packs) ? m : null;
  } catch {
    return null;
  }
}

/** Makes the manifest's packs local (downloaded, verified, indexed) so its file can be read. */
export async function fetchUploadPacks(repo: Repo, remote: Remote, m: UploadManifest): Promise<void> {
  const have = new Set(indexedPacks(repo.blobs).map((p) => p.id));
  const want = [...new Set(m.packs)].filter((id) => !have.has(id));
  if (!want.length) return;
  const found = await Promise.all(want.map(async (id) => {
    const o = await remote.backend.head(packKey(id));
    return o ? [{ id, size: o.size, lastModified: o.lastModified }] : [];
  }));
  await downloadPacks(remote, repo.blobs, found.flat());
}

/** Deletes a batch's upload manifests (the packs stay until a remote gc finds them unreferenced). */
export async function dropUploads(remote: Remote, batch: string): Promise<void> {
  for await (const o of remote.backend.list(jobUploadKey(`${batch}/`))) await remote.backend.delete(o.key);
}
