// Worker half of md5.ts: MD5s (and, when asked, BLAKE3s) of files being ingested, fed
// the bytes the ingest read: ranges of a SharedArrayBuffer the ingest reads into (it
// waits on ctl[0] before overwriting them) or transferred copies, so that hashing runs on
// another core than the chunker.
//
// Files sent whole (one range, then their end) are hashed side by side, 16 at a time,
// where the addon can (native/md5x16.c: ~7x OpenSSL's speed on one core, as MD5 cannot
// be split within a file but 16 files fill 16 lanes): such a file waits until 16 have
// come, or until the ingest asks (a `flush` message: md5Settle before it reuses a buffer,
// md5Drain). ctl[0] counts the messages done in order, so it stops before the first
// waiting file's range: the ingest never overwrites bytes not yet hashed.
import { createHash, type Hash } from 'node:crypto';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { createHasher, type Hasher } from '../store/hash.js';
import { nativeAddon } from '../store/native-addon.js';

type JobMsg = { id: number; whole: boolean; data?: ArrayBuffer; key?: number; off?: number; len?: number; end?: boolean };
type Msg = { share: number; sab: SharedArrayBuffer } | { flush: true } | JobMsg;

const { ctl, replies } = workerData as { ctl: Int32Array; replies: MessagePort };
const bufs = new Map<number, SharedArrayBuffer>();
const open = new Map<number, { md5: Hash; blake3: Hasher | null }>();
const addonMd5Many = nativeAddon()?.md5Many as ((views: Uint8Array[]) => Buffer | null) | undefined;
/** The addon's md5Many where this CPU runs it (AVX-512; it returns null elsewhere). */
const md5Many = addonMd5Many && addonMd5Many([]) !== null ? addonMd5Many : null;
const LANES = 16;

/** Messages taken so far (they are numbered from 1, as md5.ts numbers them). */
let taken = 0;
/** Files whose first range came, held for hashing side by side: `at` is that range's number. */
const held = new Map<number, { data: Uint8Array; at: number; ended: boolean }>();

const bytesOf = (m: JobMsg): Uint8Array | null =>
  m.data ? new Uint8Array(m.data) : m.key !== undefined ? new Uint8Array(bufs.get(m.key)!, m.off, m.len) : null;

function reply(id: number, md5: string, blake3?: string): void {
  replies.postMessage({ id, md5, blake3 });
  Atomics.add(ctl, 1, 1);
  Atomics.notify(ctl, 1);
}

/** A held file that turns out to have more ranges is hashed the ordinary way from here on. */
function release(id: number): void {
  const h = held.get(id)!;
  held.delete(id);
  const md5 = createHash('md5').update(h.data);
  open.set(id, { md5, blake3: null });
}

/** Hashes the held files that ended, side by side; the others go on the ordinary way. */
function flush(): void {
  const ended = [...held].filter(([, h]) => h.ended);
  for (const [id] of ended) held.delete(id);
  for (const id of [...held.keys()]) release(id);
  if (!ended.length) return; // always so where md5Many is missing: nothing is ever held
  const digests = md5Many!(ended.map(([, h]) => h.data))!;
  ended.forEach(([id], k) => reply(id, digests.toString('hex', k * 16, k * 16 + 16)));
}

async function handle(m: Msg): Promise<void> {
  if ('share' in m) { bufs.set(m.share, m.sab); return; }
  if ('flush' in m) { flush(); return; }
  const data = bytesOf(m);
  if (held.has(m.id)) {
    if (m.end && !data) {
      held.get(m.id)!.ended = true;
      if ([...held.values()].filter((h) => h.ended).length >= LANES) flush(); // at most LANES + a few held
      return;
    }
    release(m.id);
  } else if (md5Many && !m.whole && !m.end && data && !open.has(m.id)) {
    held.set(m.id, { data, at: taken, ended: false });
    return;
  }
  let h = open.get(m.id);
  if (!h) open.set(m.id, (h = { md5: createHash('md5'), blake3: m.whole ? await createHasher() : null }));
  if (data) { h.md5.update(data); h.blake3?.update(data); }
  if (m.end) {
    open.delete(m.id);
    reply(m.id, h.md5.digest('hex'), h.blake3?.digestHex());
  }
}

/** ctl[0]: every message before the first held range is done. */
function settle(): void {
  let done = taken;
  for (const h of held.values()) done = Math.min(done, h.at - 1);
  Atomics.store(ctl, 0, done);
  Atomics.notify(ctl, 0);
}

// One message at a time, in the order sent.
let chain: Promise<void> = Promise.resolve();
parentPort!.on('message', (m: Msg) => {
  chain = chain.then(async () => {
    taken++;
    await handle(m).catch(() => { /* a bad message: its job never completes */ });
    settle();
  });
});
