// Object keys of a remote (docs/ARCHITECTURE.md, "Remote layout"), relative to the
// remote's prefix, and the dv-remote.json document that marks a bucket as a dv remote.
import { DvError } from '../../store/errors.js';
import type { ChunkerParams } from '../../store/chunker.js';
import type { Protection } from '../protect.js';

export const META_KEY = 'dv-remote.json';
export const PACKS_PREFIX = 'packs/';
export const REFS_PREFIX = 'refs/';
export const LOCKS_PREFIX = 'locks/';
/** The remote's protected branches ([{branch, allow}]): dv push refuses to move them
 * for anyone not allowed, and fetch adopts them (protect.ts). */
export const PROTECTED_KEY = 'protected.json';
/** Held by a running remote gc; pushes do not write refs while it is live. */
export const GC_LEASE_KEY = 'locks/gc';
export const REMOTE_FORMAT = 1;

export interface RemoteMeta {
  format: number;
  chunker: ChunkerParams & { algorithm: string };
}

const PACK_KEY = /^packs\/([0-9a-f]{2})\/([0-9a-f]{64})\.pack$/;
const COMMIT_ID = /^[0-9a-f]{64}$/;

export function packKey(id: string): string {
  return `${PACKS_PREFIX}${id.slice(0, 2)}/${id}.pack`;
}

/** The pack id of a listed key, or null for anything else found under packs/. */
export function parsePackKey(key: string): string | null {
  const m = PACK_KEY.exec(key);
  return m && m[2].startsWith(m[1]) ? m[2] : null;
}

/** `heads/main` -> `refs/heads/main`. */
export function refKey(ref: string): string {
  return `${REFS_PREFIX}${ref}`;
}

/**
 * Pins: `refs/pins/<commit id>` marks a data version that a dv.lock in git history
 * names, so that remote gc keeps it and a colleague's `dv checkout git:REV` finds it
 * after a fetch, although no branch or tag reaches it (docs/remotes.md, "Pins").
 */
export const PINS_PREFIX = 'refs/pins/';

export function pinKey(commit: string): string {
  return `${PINS_PREFIX}${commit}`;
}

/** The per-ref lease used where the server has no conditional writes. */
export function refLeaseKey(ref: string): string {
  return `${LOCKS_PREFIX}refs/${ref}`;
}

export function isBranchOrTagRef(ref: string): boolean {
  return /^(heads|tags)\/./.test(ref);
}

export function encodeRef(commit: string): Buffer {
  return Buffer.from(commit, 'utf8');
}

export function decodeRef(body: Buffer, where: string): string {
  const id = body.toString('utf8').trim();
  if (!COMMIT_ID.test(id)) throw new DvError(`remote ref ${where} is damaged (not a commit id)`);
  return id;
}

export function encodeMeta(chunker: ChunkerParams & { algorithm: string }): Buffer {
  const { algorithm, min, avg, max } = chunker;
  return Buffer.from(JSON.stringify({ format: REMOTE_FORMAT, chunker: { algorithm, min, avg, max } }) + '\n');
}

export function decodeMeta(body: Buffer, url: string): RemoteMeta {
  let m: RemoteMeta;
  try {
    m = JSON.parse(body.toString('utf8')) as RemoteMeta;
  } catch {
    throw new DvError(`${url}/${META_KEY} is damaged (not JSON)`);
  }
  if (m?.format !== REMOTE_FORMAT) throw new DvError(`${url} has remote format ${m?.format}; this dv supports ${REMOTE_FORMAT}`);
  if (!m.chunker || typeof m.chunker.min !== 'number') throw new DvError(`${url}/${META_KEY} has no chunker parameters`);
  return m;
}

export function sameChunker(a: RemoteMeta['chunker'], b: RemoteMeta['chunker']): boolean {
  return a.algorithm === b.algorithm && a.min === b.min && a.avg === b.avg && a.max === b.max;
}

export function describeChunker(c: RemoteMeta['chunker']): string {
  return `${c.algorithm} ${c.min}/${c.avg}/${c.max}`;
}

export function encodeProtected(list: Protection[]): Buffer {
  return Buffer.from(JSON.stringify({ format: 1, branches: list }) + '\n');
}

export function decodeProtected(body: Buffer, url: string): Protection[] {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { format: number; branches: Protection[] };
    if (doc.format !== 1 || !Array.isArray(doc.branches)) throw new Error('bad shape');
    return doc.branches.map((p) => ({ branch: String(p.branch), allow: p.allow.map(String) }));
  } catch {
    throw new DvError(`remote ${url}: ${PROTECTED_KEY} is not a protected-branches document; refusing to push (fix or delete it)`);
  }
}

/**
 * The data path of cluster jobs through `dv serve --remote` (docs/executors.md): the
 * coordinating dv run writes each job key's record under `jobs/keys/` (deleting it
 * revokes the key), and the servers record each file a job uploads under
 * `jobs/uploads/<batch>/` (one small manifest per file: its chunks and the packs
 * holding them, written by the one server that took that PUT, so no two servers
 * ever write one object). No ref moves for either.
 */
export const JOB_KEYS_PREFIX = 'jobs/keys/';
export const JOB_UPLOADS_PREFIX = 'jobs/uploads/';

export function jobKeyKey(accessKeyId: string): string {
  return `${JOB_KEYS_PREFIX}${accessKeyId}.json`;
}

/** `path` as the job wrote it below the upload area: `<batch>/<i>/o/...`, `<batch>/<i>.json`
 * (batch ids are random; each job key writes below its own batch only). */
export function jobUploadKey(path: string): string {
  return `${JOB_UPLOADS_PREFIX}${path}`;
}
