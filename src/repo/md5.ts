// MD5 of content being ingested (the S3 ETag, see etags.ts), off the ingest's thread:
// `dv add` of 1 GiB would otherwise spend ~2 s of its one busy core on MD5. The worker
// hashes the very bytes the ingest read, so what is hashed is exactly what was stored:
// bytes in a SharedArrayBuffer the ingest reads into are hashed in place (the ingest
// calls md5Settle before it overwrites them), other bytes are copied. A job asked for
// it also computes the whole content's BLAKE3 there (a multi-chunk file's checksum),
// which the ingest thread would otherwise hash a second time. Small inputs are hashed
// inline: a worker is started only once enough bytes come to be worth it.
import crypto, { createHash } from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';

/** Below this many bytes a file is hashed on the calling thread. */
const INLINE_BELOW = 64 << 10;

export interface Md5Job {
  /** Returns the sequence number to pass to md5Settle before data's bytes may change (0: copied). */
  update(data: Uint8Array): number;
  /** The hex MD5 of everything passed to update. */
  digest(): Promise<string>;
  /** With `whole` asked and a worker running: the hex BLAKE3 of everything passed to update. */
  readonly blake3?: () => Promise<string>;
  /** Calls `cb` with the MD5 once known, without waiting for it (md5Drain waits for all). */
  later(cb: (md5: string) => void): void;
}

/** One-shot MD5 where Node has it: a Hash object per small file holds native memory the
 * garbage collector does not see, which at 1,000,000 files came to hundreds of MB. */
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array, enc: 'hex') => string }).hash;

class InlineJob implements Md5Job {
  private parts: Buffer[] = [];
  update(data: Uint8Array): number { this.parts.push(Buffer.from(data)); return 0; } // the caller reuses its buffer
  digest(): Promise<string> {
    const data = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    return Promise.resolve(oneShot ? oneShot('md5', data, 'hex') : createHash('md5').update(data).digest('hex'));
  }
  later(cb: (md5: string) => void): void {
    const data = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    cb(oneShot ? oneShot('md5', data, 'hex') : createHash('md5').update(data).digest('hex'));
  }
}

let worker: Worker | null = null;
let nextId = 1;
type Reply = { id: number; md5: string; blake3?: string };
const waiting = new Map<number, { resolve(r: Reply): void; reject(e: Error): void }>();
let failed: Error | null = null;
/** [0]: messages the worker has handled, [1]: replies it has posted; `sent`: messages posted to it. */
const ctl = new Int32Array(new SharedArrayBuffer(8));
let replies: MessagePort | null = null;
let draining = false;
let sent = 0;
const shared = new WeakMap<SharedArrayBuffer, number>();
let nextShared = 1;

function post(w: Worker, m: object, transfer: ArrayBuffer[] = []): number {
  w.postMessage(m, transfer);
  return ++sent;
}

/** Blocks until the worker is done with the message numbered `seq` (and all before it). */
export function md5Settle(seq: number): void {
  if (seq <= 0 || failed) return;
  if (Atomics.load(ctl, 0) < seq && worker) post(worker, { flush: true }); // files it holds to hash side by side go now
  for (let seen = Atomics.load(ctl, 0); seen < seq && !failed; seen = Atomics.load(ctl, 0)) Atomics.wait(ctl, 0, seen, 1000);
}

function onReply(m: Reply): void {
  const w = waiting.get(m.id);
  waiting.delete(m.id);
  if (waiting.size === 0) { worker?.unref(); replies?.unref(); }
  w?.resolve(m);
}

/** Blocks until every job's MD5 is known and its `later` callback has run. */
export function md5Drain(): void {
  if (draining || !replies) return;
  if (waiting.size && worker) post(worker, { flush: true });
  draining = true;
  try {
    while (waiting.size && !failed) {
      const seen = Atomics.load(ctl, 1);
      for (let m = receiveMessageOnPort(replies); m; m = receiveMessageOnPort(replies)) onReply(m.message as Reply);
      if (waiting.size) Atomics.wait(ctl, 1, seen, 1000);
    }
  } finally {
    draining = false;
  }
}

function theWorker(): Worker | null {
  if (failed) return null;
  if (!worker) {
    const file = new URL('./md5-worker.js', import.meta.url);
    // Run from the TypeScript sources (tests) there is no compiled worker: hash inline.
    if (!fs.existsSync(fileURLToPath(file))) return null;
    // Replies come on their own port, so md5Drain can take them without the event loop.
    const { port1, port2 } = new MessageChannel();
    worker = new Worker(file, { workerData: { ctl, replies: port2 }, transferList: [port2] });
    worker.unref(); // never keeps the process alive; jobs in flight keep it referenced
    replies = port1;
    replies.on('message', onReply);
    replies.unref();
    worker.on('error', (e) => {
      failed = e;
      for (const w of waiting.values()) w.reject(e);
      waiting.clear();
    });
  }
  return worker;
}

class WorkerJob implements Md5Job {
  private readonly id = nextId++;
  private result: Promise<Reply> | null = null;
  readonly blake3?: () => Promise<string>;
  // Every message names the job and whether it wants the BLAKE3: the first one opens it.
  constructor(private readonly w: Worker, private readonly whole: boolean) {
    if (whole) this.blake3 = async () => (await this.end()).blake3!;
  }
  update(data: Uint8Array): number {
    if (data.buffer instanceof SharedArrayBuffer) {
      let key = shared.get(data.buffer);
      if (key === undefined) { shared.set(data.buffer, (key = nextShared++)); post(this.w, { share: key, sab: data.buffer }); }
      return post(this.w, { id: this.id, whole: this.whole, key, off: data.byteOffset, len: data.byteLength });
    }
    const copy = new Uint8Array(data); // the caller reuses its buffer
    post(this.w, { id: this.id, whole: this.whole, data: copy.buffer }, [copy.buffer]);
    return 0;
  }
  async digest(): Promise<string> {
    return (await this.end()).md5;
  }
  later(cb: (md5: string) => void): void {
    if (failed) return; // recomputed on need (etags.ts)
    waiting.set(this.id, { resolve: (r) => cb(r.md5), reject: () => {} });
    post(this.w, { id: this.id, whole: this.whole, end: true });
  }
  private end(): Promise<Reply> {
    this.result ??= new Promise((resolve, reject) => {
      if (failed) return reject(failed);
      waiting.set(this.id, { resolve, reject });
      this.w.ref();
      replies?.ref();
      post(this.w, { id: this.id, whole: this.whole, end: true });
      if (!this.whole) post(this.w, { flush: true }); // the worker may hold such a file to hash with others
    });
    return this.result;
  }
}

/** No MD5 at all (Ingestor's md5From): the content's is computed on first need. */
export const NO_MD5: Md5Job = { update: () => 0, digest: () => Promise.resolve(''), later: () => undefined };

/** An MD5 of `expectedSize` bytes to come: off-thread when large enough; `whole` asks the
 * worker for the content's BLAKE3 too (see Md5Job.blake3). */
export function md5Job(expectedSize: number, whole = false): Md5Job {
  const w = expectedSize >= INLINE_BELOW ? theWorker() : null;
  return w ? new WorkerJob(w, whole) : new InlineJob();
}
