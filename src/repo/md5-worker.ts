// Worker half of md5.ts: MD5s (and, when asked, BLAKE3s) of files being ingested, fed
// the bytes the ingest read: ranges of a SharedArrayBuffer the ingest reads into (it
// waits on ctl[0] before overwriting them) or transferred copies, so that hashing runs on
// another core than the chunker.
import { createHash, type Hash } from 'node:crypto';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { createHasher, type Hasher } from '../store/hash.js';

type Msg = { share: number; sab: SharedArrayBuffer }
  | { id: number; whole: boolean; data?: ArrayBuffer; key?: number; off?: number; len?: number; end?: boolean };

const { ctl, replies } = workerData as { ctl: Int32Array; replies: MessagePort };
const bufs = new Map<number, SharedArrayBuffer>();
const open = new Map<number, { md5: Hash; blake3: Hasher | null }>();

async function handle(m: Msg): Promise<void> {
  if ('share' in m) { bufs.set(m.share, m.sab); return; }
  let h = open.get(m.id);
  if (!h) open.set(m.id, (h = { md5: createHash('md5'), blake3: m.whole ? await createHasher() : null }));
  const data = m.data ? new Uint8Array(m.data) : m.key !== undefined ? new Uint8Array(bufs.get(m.key)!, m.off, m.len) : null;
  if (data) { h.md5.update(data); h.blake3?.update(data); }
  if (m.end) {
    open.delete(m.id);
    replies.postMessage({ id: m.id, md5: h.md5.digest('hex'), blake3: h.blake3?.digestHex() });
    Atomics.add(ctl, 1, 1);
    Atomics.notify(ctl, 1);
  }
}

// One message at a time, in the order sent; ctl[0] counts the ones handled (md5Settle).
let chain: Promise<void> = Promise.resolve();
parentPort!.on('message', (m: Msg) => {
  chain = chain.then(() => handle(m)).catch(() => { /* a bad message: its job never completes */ }).finally(() => {
    Atomics.add(ctl, 0, 1);
    Atomics.notify(ctl, 0);
  });
});
