// The ingest's side of pack-worker.ts: hands full 4 MiB pack buffers to a worker thread
// that writes, hashes and seals them, so `dv add` of large files keeps reading, chunking
// and hashing while the previous buffer is written and the previous pack is fsynced.
// Everything is synchronous on this side (BlobStore.flush() is): results come back on a
// MessagePort drained with receiveMessageOnPort, and waiting is Atomics.wait on a counter
// the worker bumps after each reply. A pack's index rows are written only once its
// 'sealed' reply says it was fsynced and renamed (the durability contract is unchanged).
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { alignedBuffer } from './direct-io.js';

export const THREAD_BUF_BYTES = 4 << 20;
/** Buffers in flight or free at most: bounds the memory the pipeline adds. */
const MAX_BUFS = 8;

export type ToWorker =
  | { op: 'open'; pack: number; tmpPath: string }
  | { op: 'write'; pack: number; buf: ArrayBuffer; off: number; len: number; pos: number }
  | { op: 'seal'; pack: number; tmpPath: string; packsDir: string }
  | { op: 'abort'; pack: number; tmpPath: string };
export type FromWorker =
  | { op: 'buf'; pack: number; buf: ArrayBuffer; off: number; written: number }
  | { op: 'sealed'; pack: number; id: string; size: number }
  | { op: 'failed'; pack: number; message: string };

export type SealResult = { id: string; size: number } | { error: string };

export class PackThread {
  private readonly ctl = new Int32Array(new SharedArrayBuffer(4));
  private readonly port: MessagePort;
  /** 4 MiB views, aligned for O_DIRECT where it can be (direct-io.ts). */
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private nextPack = 1;
  private readonly outstanding = new Map<number, number>();
  private readonly results = new Map<number, SealResult>();

  constructor(file: URL) {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(file, { workerData: { port: port2, ctl: this.ctl }, transferList: [port2] });
    worker.unref(); // never keeps the process alive: callers wait for what they need
    this.port = port1;
    this.port.unref();
  }

  /** The thread opens the (created) file itself: each thread closes the descriptors it opened. */
  open(tmpPath: string): number {
    const pack = this.nextPack++;
    this.outstanding.set(pack, 0);
    this.port.postMessage({ op: 'open', pack, tmpPath } satisfies ToWorker);
    return pack;
  }

  /** A buffer to fill (waits for the worker to return one when MAX_BUFS are out). */
  buffer(): Buffer {
    if (this.free.length === 0 && this.allocated < MAX_BUFS) { this.allocated++; return alignedBuffer(THREAD_BUF_BYTES); }
    this.waitFor(() => this.free.length > 0);
    return this.free.pop()!;
  }

  /** Gives back a buffer that was never sent. */
  release(buf: Buffer): void {
    this.free.push(buf);
  }

  /** Writes buf[0, len) at `pos` of the pack's file; `buf` belongs to the worker from now on. */
  write(pack: number, buf: Buffer, len: number, pos: number): void {
    this.outstanding.set(pack, this.outstanding.get(pack)! + 1);
    const ab = buf.buffer as ArrayBuffer;
    this.port.postMessage({ op: 'write', pack, buf: ab, off: buf.byteOffset, len, pos } satisfies ToWorker, [ab]);
  }

  /** Waits until every write sent for the pack is on the file. */
  settle(pack: number): void {
    this.waitFor(() => this.outstanding.get(pack) === 0);
  }

  seal(pack: number, tmpPath: string, packsDir: string): void {
    this.port.postMessage({ op: 'seal', pack, tmpPath, packsDir } satisfies ToWorker);
  }

  /** The seal's outcome, or undefined while the worker is still at it; `wait` blocks for it. */
  result(pack: number, wait: boolean): SealResult | undefined {
    if (wait) this.waitFor(() => this.results.has(pack));
    else this.poll();
    const r = this.results.get(pack);
    if (r) { this.results.delete(pack); this.outstanding.delete(pack); }
    return r;
  }

  abort(pack: number, tmpPath: string): void {
    this.outstanding.delete(pack);
    this.results.delete(pack);
    this.port.postMessage({ op: 'abort', pack, tmpPath } satisfies ToWorker);
  }

  private poll(): void {
    for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
      const r = m.message as FromWorker;
      if (r.op === 'buf') {
        this.free.push(Buffer.from(r.buf, r.off, THREAD_BUF_BYTES));
        const n = this.outstanding.get(r.pack);
        if (n !== undefined) this.outstanding.set(r.pack, n - 1);
      } else if (this.outstanding.has(r.pack)) {
        this.results.set(r.pack, r.op === 'sealed' ? { id: r.id, size: r.size } : { error: r.message });
      }
    }
  }

  private waitFor(done: () => boolean): void {
    for (;;) {
      this.poll();
      if (done()) return;
      const seen = Atomics.load(this.ctl, 0);
      this.poll();
      if (done()) return;
      Atomics.wait(this.ctl, 0, seen);
    }
  }
}

let thread: PackThread | null | undefined;

/** The process's pack thread, or null (DV_PACK_THREAD=0, or run from the TypeScript sources). */
export function packThread(): PackThread | null {
  if (thread !== undefined) return thread;
  const file = new URL('./pack-worker.js', import.meta.url);
  thread = process.env.DV_PACK_THREAD === '0' || !fs.existsSync(fileURLToPath(file)) ? null : new PackThread(file);
  return thread;
}
