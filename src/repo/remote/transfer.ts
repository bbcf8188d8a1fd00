// Moving packs between .dv/packs and a remote. Packs are immutable and named by the
// BLAKE3 of their bytes, so "does the remote have it" is a key lookup and an
// interrupted transfer resumes by skipping what already arrived.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { BlobStore } from '../../store/blobstore.js';
import { CorruptionError, DvError } from '../../store/errors.js';
import { fsyncDir } from '../../store/fsutil.js';
import { blake3, createHasher } from '../../store/hash.js';
import { readTableFromFile, type PackEntry } from '../../store/packfile.js';
import { packPath } from '../../store/packwriter.js';
import { pool } from '../../store/pool.js';
import { packKey } from './layout.js';
import { Meter, type OnProgress } from './progress.js';
import type { Remote, RemotePack } from './remote.js';

export interface LocalPack {
  id: string;
  size: number;
}

export async function uploadPacks(remote: Remote, store: BlobStore, packs: LocalPack[], onProgress?: OnProgress): Promise<void> {
  const meter = new Meter('push', packs.length, packs.reduce((s, p) => s + p.size, 0), onProgress);
  // Largest first: a big pack started last would otherwise run alone at the end.
  const order = [...packs].sort((a, b) => b.size - a.size);
  await pool(order, remote.jobs, async (p) => {
    await remote.backend.put(packKey(p.id), { path: packPath(store.packsDir, p.id), size: p.size },
      { contentType: 'application/octet-stream' });
    meter.bytes(p.size);
    meter.fileDone();
  });
}

/** Downloads, verifies and installs packs; each pack is indexed as soon as it is verified.
 * Returns the packs installed: one deleted by a remote gc since the listing is skipped
 * (gc only deletes packs no ref needs; fetch checks the refs' closure afterwards). */
export async function downloadPacks(remote: Remote, store: BlobStore, packs: RemotePack[], onProgress?: OnProgress): Promise<RemotePack[]> {
  const meter = new Meter('fetch', packs.length, packs.reduce((s, p) => s + p.size, 0), onProgress);
  fs.mkdirSync(store.tmpDir, { recursive: true });
  const order = [...packs].sort((a, b) => b.size - a.size);
  const got = await pool(order, remote.jobs, async (p, _i, signal) => {
    const ok = await downloadWithRetry(remote, store.tmpDir, p, meter, signal, (tmp, entries) => install(store, p, tmp, entries));
    meter.fileDone();
    return ok ? p : null;
  });
  return got.filter((p): p is RemotePack => p !== null);
}

const ATTEMPTS = 4;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function downloadWithRetry(remote: Remote, tmpDir: string, p: RemotePack, meter: Meter, signal: AbortSignal,
  onVerified: (tmp: string, entries: PackEntry[]) => void): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    const tmp = path.join(tmpDir, `fetch-${p.id.slice(0, 16)}-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
    let got = 0;
    let entries: PackEntry[] | null;
    try {
      entries = await downloadOnce(remote, p, tmp, (n) => { got += n; meter.bytes(n); }, signal);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      meter.bytes(-got);
      // The backend has already retried the request itself; what is left to retry
      // here is a body cut off mid-stream. A wrong hash is the object, not the wire.
      if (e instanceof DvError || signal.aborted) throw e;
      if (attempt >= ATTEMPTS) {
        const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        throw new DvError(`download of pack ${p.id.slice(0, 12)} from ${remote.url} failed after ${attempt} attempts: ${code}`);
      }
      await sleep(200 * 2 ** attempt * (0.5 + Math.random() / 2));
      continue;
    }
    if (!entries) return false;
    try {
      onVerified(tmp, entries); // local errors (disk full...) are not worth a new download
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    return true;
  }
}

/** Streams one pack to `tmp` and checks it: size, pack id = BLAKE3 of the bytes, the
 * table checksum, and every blob against its id. Nothing unverified leaves .dv/tmp. */
async function downloadOnce(remote: Remote, p: RemotePack, tmp: string, onBytes: (n: number) => void,
  signal: AbortSignal): Promise<PackEntry[] | null> {
  const hasher = await createHasher();
  let body;
  try {
    body = await remote.backend.getStream(packKey(p.id));
  } catch (e) {
    if (await remote.backend.head(packKey(p.id)).catch(() => undefined) === null) return null;
    throw e;
  }
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hasher.update(chunk);
      size += chunk.length;
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
  // Opened synchronously: with a lazily opened stream, a body failing at once could
  // let the open land after the caller's cleanup and leave an empty file behind.
  const out = fs.createWriteStream('', { fd: fs.openSync(tmp, 'wx') });
  await pipeline(body, tap, out, { signal });
  const where = `remote pack ${p.id} at ${remote.url}`;
  if (size !== p.size) throw new CorruptionError(`${where} is truncated: got ${size} bytes, listed as ${p.size}`);
  const actual = hasher.digestHex();
  if (actual !== p.id) throw new CorruptionError(`${where} is corrupt or truncated: its bytes hash to ${actual.slice(0, 12)}…, not to its name`);
  const entries = await readTableFromFile(tmp, p.id).catch((e: Error) => {
    throw new CorruptionError(`${where} is damaged: ${e.message}`);
  });
  verifyBlobs(tmp, entries, where);
  return entries;
}

function verifyBlobs(file: string, entries: PackEntry[], where: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    for (const e of entries) {
      const buf = Buffer.allocUnsafe(e.length);
      if (fs.readSync(fd, buf, 0, e.length, e.offset) !== e.length || !blake3(buf).equals(e.id)) {
        throw new CorruptionError(`${where} holds a damaged object ${e.id.toString('hex').slice(0, 12)}…`);
      }
    }
    fs.fsyncSync(fd); // flushes what the write stream wrote, before the rename makes it a pack
  } finally {
    fs.closeSync(fd);
  }
}

/** Rename then index, as the pack writer does: a crash in between leaves an
 * unindexed pack that dv gc removes and a re-run of fetch simply indexes again. */
function install(store: BlobStore, p: RemotePack, tmp: string, entries: PackEntry[]): void {
  const dest = packPath(store.packsDir, p.id);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.renameSync(tmp, dest);
  fsyncDir(path.dirname(dest));
  store.indexPack({ id: p.id, size: p.size, entries });
}
